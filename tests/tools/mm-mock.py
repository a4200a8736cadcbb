'''python-dbusmock template: ModemManager (org.freedesktop.ModemManager1) as its D-Bus API
documents it, with the modems and SIMs a test sets up (tests/lab/mm.sh runs it).

  python3 -m dbusmock --system --template tests/tools/mm-mock.py \
      -p '{"Imsi": "001010123456789", "SimIdentifier": "8988211000000123456", "OperatorIdentifier": "00101"}'

What is served:
  /org/freedesktop/ModemManager1        org.freedesktop.ModemManager1 (Version, ScanDevices,
                                        SetLogging, ReportKernelEvent, InhibitDevice) and
                                        org.freedesktop.DBus.ObjectManager: GetManagedObjects
                                        lists the modems only, each with all its interfaces'
                                        properties (as ModemManager does: SIMs are not listed)
  .../ModemManager1/Modem/N             org.freedesktop.ModemManager1.Modem (Sim: the SIM's
                                        path, "/" without one), .Modem.Modem3gpp, .Modem.Simple
  .../ModemManager1/SIM/K               org.freedesktop.ModemManager1.Sim (SimIdentifier, Imsi,
                                        OperatorIdentifier, ...), read with Properties.GetAll
Parameters (-p, JSON): "modem" (default true: Modem/0 exists), "sim" (default true: it has a
SIM), "Imsi", "SimIdentifier", "OperatorIdentifier" (that SIM's).

Test hooks, on org.freedesktop.DBus.Mock at /org/freedesktop/ModemManager1:
  AddModem(u n, s imsi, s iccid, s mccmnc) -> o   Modem/n with a new SIM of these values
  RemoveModem(u n)                                Modem/n and its SIM go away
  SwapSim(u n, s imsi, s iccid, s mccmnc) -> o    a new SIM object in Modem/n, the old one gone
  RemoveSim(u n)                                  Modem/n's Sim is "/" (State failed, SIM missing)
  SetStall(b)                                     GetManagedObjects never answers while true
  SetRace(s imsi, s iccid, s mccmnc)              right after the next GetManagedObjects answer,
                                                  Modem/0's SIM is swapped for one of these
                                                  values (the answer names a SIM that is gone)
  SetSimAsString(u n)                             Modem/n's Sim becomes a string, not a path
'''
import dbus
import dbus.service
from dbusmock import MOCK_IFACE, mockobject

BUS_NAME = 'org.freedesktop.ModemManager1'
MAIN_OBJ = '/org/freedesktop/ModemManager1'
MAIN_IFACE = 'org.freedesktop.ModemManager1'
SYSTEM_BUS = True

OM_IFACE = 'org.freedesktop.DBus.ObjectManager'
MODEM_IFACE = MAIN_IFACE + '.Modem'
MODEM_3GPP_IFACE = MODEM_IFACE + '.Modem3gpp'
MODEM_SIMPLE_IFACE = MODEM_IFACE + '.Simple'
SIM_IFACE = MAIN_IFACE + '.Sim'

# ModemManager's enums (ModemManager-enums.h)
STATE_FAILED, STATE_REGISTERED = -1, 8
FAILED_REASON_NONE, FAILED_REASON_SIM_MISSING = 0, 2
LOCK_NONE = 1
POWER_STATE_ON = 3
CAPABILITY_LTE = 8
ACCESS_TECH_LTE = 1 << 14
MODE_4G = 8
SIM_TYPE_PHYSICAL, ESIM_STATUS_UNKNOWN, REMOVABLE = 1, 0, 1
REGISTRATION_HOME = 1


def modem_path(n):
    return f'{MAIN_OBJ}/Modem/{int(n)}'


def load(mock, parameters):
    mock.sim_count = 0
    mock.stall = False
    mock.race = None
    mock.AddProperty(MAIN_IFACE, 'Version', dbus.String('1.20.4'))
    mock.AddMethods(MAIN_IFACE, [
        ('ScanDevices', '', '', ''),
        ('SetLogging', 's', '', ''),
        ('ReportKernelEvent', 'a{sv}', '', ''),
        ('InhibitDevice', 'sb', '', ''),
    ])
    if parameters.get('modem', True):
        add_modem(mock, 0, parameters.get('Imsi', '001010123456789'),
                  parameters.get('SimIdentifier', '8988211000000123456'),
                  parameters.get('OperatorIdentifier', '00101'),
                  parameters.get('sim', True))


def add_sim(mock, imsi, iccid, mccmnc):
    path = f'{MAIN_OBJ}/SIM/{mock.sim_count}'
    mock.sim_count += 1
    mock.AddObject(path, SIM_IFACE, {
        'Active': dbus.Boolean(True),
        'SimIdentifier': dbus.String(iccid),
        'Imsi': dbus.String(imsi),
        'Eid': dbus.String(''),
        'OperatorIdentifier': dbus.String(mccmnc),
        'OperatorName': dbus.String('Test Network'),
        'EmergencyNumbers': dbus.Array(['112', '911'], signature='s'),
        'PreferredNetworks': dbus.Array([], signature='(su)'),
        'Gid1': dbus.Array([], signature='y'),
        'Gid2': dbus.Array([], signature='y'),
        'SimType': dbus.UInt32(SIM_TYPE_PHYSICAL),
        'EsimStatus': dbus.UInt32(ESIM_STATUS_UNKNOWN),
        'Removability': dbus.UInt32(REMOVABLE),
    }, [
        ('SendPin', 's', '', ''),
        ('SendPuk', 'ss', '', ''),
        ('EnablePin', 'sb', '', ''),
        ('ChangePin', 'ss', '', ''),
        ('SetPreferredNetworks', 'a(su)', '', ''),
    ])
    return path


def drop_object(path):
    if path in mockobject.objects:
        mockobject.objects[path].remove_from_connection()
        del mockobject.objects[path]


def add_modem(mock, n, imsi, iccid, mccmnc, with_sim=True):
    path = modem_path(n)
    sim = add_sim(mock, imsi, iccid, mccmnc) if with_sim else '/'
    mock.AddObject(path, MODEM_IFACE, {
        'Sim': dbus.ObjectPath(sim),
        'SimSlots': dbus.Array([dbus.ObjectPath(sim)], signature='o'),
        'PrimarySimSlot': dbus.UInt32(1),
        'Bearers': dbus.Array([], signature='o'),
        'SupportedCapabilities': dbus.Array([dbus.UInt32(CAPABILITY_LTE)], signature='u'),
        'CurrentCapabilities': dbus.UInt32(CAPABILITY_LTE),
        'MaxBearers': dbus.UInt32(1),
        'MaxActiveBearers': dbus.UInt32(1),
        'MaxActiveMultiplexedBearers': dbus.UInt32(0),
        'Manufacturer': dbus.String('m2m lab'),
        'Model': dbus.String('mock LTE modem'),
        'Revision': dbus.String('1'),
        'CarrierConfiguration': dbus.String(''),
        'CarrierConfigurationRevision': dbus.String(''),
        'HardwareRevision': dbus.String('1'),
        'DeviceIdentifier': dbus.String(f'mock{int(n)}'),
        'Device': dbus.String(f'/sys/devices/mock{int(n)}'),
        'Physdev': dbus.String(f'/sys/devices/mock{int(n)}'),
        'Drivers': dbus.Array(['qmi_wwan'], signature='s'),
        'Plugin': dbus.String('generic'),
        'PrimaryPort': dbus.String(f'cdc-wdm{int(n)}'),
        'Ports': dbus.Array([dbus.Struct((dbus.String(f'cdc-wdm{int(n)}'), dbus.UInt32(6)),
                                         signature='su')], signature='(su)'),
        'EquipmentIdentifier': dbus.String(f'35000000000000{int(n) % 10}'),
        'UnlockRequired': dbus.UInt32(LOCK_NONE),
        'UnlockRetries': dbus.Dictionary({}, signature='uu'),
        'State': dbus.Int32(STATE_REGISTERED if with_sim else STATE_FAILED),
        'StateFailedReason': dbus.UInt32(FAILED_REASON_NONE if with_sim else FAILED_REASON_SIM_MISSING),
        'AccessTechnologies': dbus.UInt32(ACCESS_TECH_LTE),
        'SignalQuality': dbus.Struct((dbus.UInt32(80), dbus.Boolean(True)), signature='ub'),
        'OwnNumbers': dbus.Array([], signature='s'),
        'PowerState': dbus.UInt32(POWER_STATE_ON),
        'SupportedModes': dbus.Array([dbus.Struct((dbus.UInt32(MODE_4G), dbus.UInt32(MODE_4G)),
                                                  signature='uu')], signature='(uu)'),
        'CurrentModes': dbus.Struct((dbus.UInt32(MODE_4G), dbus.UInt32(MODE_4G)), signature='uu'),
        'SupportedBands': dbus.Array([dbus.UInt32(31)], signature='u'),
        'CurrentBands': dbus.Array([dbus.UInt32(31)], signature='u'),
        'SupportedIpFamilies': dbus.UInt32(3),
    }, [
        ('Enable', 'b', '', ''),
        ('ListBearers', '', 'ao', 'ret = []'),
        ('Reset', '', '', ''),
        ('SetPowerState', 'u', '', ''),
        ('Command', 'su', 's', 'ret = ""'),
    ])
    modem = mockobject.objects[path]
    modem.AddProperties(MODEM_3GPP_IFACE, {
        'Imei': dbus.String(f'35000000000000{int(n) % 10}'),
        'RegistrationState': dbus.UInt32(REGISTRATION_HOME),
        'OperatorCode': dbus.String(mccmnc if with_sim else ''),
        'OperatorName': dbus.String('Test Network' if with_sim else ''),
        'EnabledFacilityLocks': dbus.UInt32(0),
    })
    modem.props[MODEM_SIMPLE_IFACE] = {}  # no properties, listed all the same
    emit_added(mock, path, modem)
    return path


def emit_added(mock, path, modem):
    mock.EmitSignal(OM_IFACE, 'InterfacesAdded', 'oa{sa{sv}}',
                    [dbus.ObjectPath(path), dbus.Dictionary(modem.props, signature='sa{sv}')])


def set_props(obj, iface, props):
    # dbusmock's UpdateProperties cannot wrap an object path (0.28): set and signal here
    obj.props[iface].update(props)
    obj.EmitSignal(dbus.PROPERTIES_IFACE, 'PropertiesChanged', 'sa{sv}as',
                   [iface, dbus.Dictionary(props, signature='sv'), dbus.Array([], signature='s')])


def swap_sim(mock, n, imsi, iccid, mccmnc):
    modem = mockobject.objects[modem_path(n)]
    old = str(modem.props[MODEM_IFACE]['Sim'])
    sim = add_sim(mock, imsi, iccid, mccmnc)
    set_props(modem, MODEM_IFACE, {
        'Sim': dbus.ObjectPath(sim), 'SimSlots': dbus.Array([dbus.ObjectPath(sim)], signature='o'),
        'State': dbus.Int32(STATE_REGISTERED), 'StateFailedReason': dbus.UInt32(FAILED_REASON_NONE)})
    set_props(modem, MODEM_3GPP_IFACE, {'OperatorCode': dbus.String(mccmnc)})
    if old != '/':
        drop_object(old)
    return dbus.ObjectPath(sim)


@dbus.service.method(OM_IFACE, in_signature='', out_signature='a{oa{sa{sv}}}',
                     async_callbacks=('reply', 'error'))
def GetManagedObjects(self, reply, error):
    if self.stall:
        return  # never answers: the caller's deadline is what ends its wait
    reply({dbus.ObjectPath(path): obj.props for path, obj in mockobject.objects.items()
           if path.startswith(MAIN_OBJ + '/Modem/')})
    if self.race:
        race, self.race = self.race, None
        swap_sim(self, 0, *race)


@dbus.service.method(MOCK_IFACE, in_signature='usss', out_signature='o')
def AddModem(self, n, imsi, iccid, mccmnc):
    return dbus.ObjectPath(add_modem(self, n, imsi, iccid, mccmnc))


@dbus.service.method(MOCK_IFACE, in_signature='u', out_signature='')
def RemoveModem(self, n):
    modem = mockobject.objects[modem_path(n)]
    sim = str(modem.props[MODEM_IFACE]['Sim'])
    ifaces = list(modem.props.keys())
    drop_object(modem_path(n))
    if sim != '/':
        drop_object(sim)
    self.EmitSignal(OM_IFACE, 'InterfacesRemoved', 'oas', [dbus.ObjectPath(modem_path(n)), ifaces])


@dbus.service.method(MOCK_IFACE, in_signature='usss', out_signature='o')
def SwapSim(self, n, imsi, iccid, mccmnc):
    return swap_sim(self, n, imsi, iccid, mccmnc)


@dbus.service.method(MOCK_IFACE, in_signature='u', out_signature='')
def RemoveSim(self, n):
    modem = mockobject.objects[modem_path(n)]
    old = str(modem.props[MODEM_IFACE]['Sim'])
    set_props(modem, MODEM_IFACE, {
        'Sim': dbus.ObjectPath('/'), 'SimSlots': dbus.Array([dbus.ObjectPath('/')], signature='o'),
        'State': dbus.Int32(STATE_FAILED), 'StateFailedReason': dbus.UInt32(FAILED_REASON_SIM_MISSING)})
    if old != '/':
        drop_object(old)


@dbus.service.method(MOCK_IFACE, in_signature='b', out_signature='')
def SetStall(self, stall):
    self.stall = bool(stall)


@dbus.service.method(MOCK_IFACE, in_signature='sss', out_signature='')
def SetRace(self, imsi, iccid, mccmnc):
    self.race = (imsi, iccid, mccmnc)


@dbus.service.method(MOCK_IFACE, in_signature='u', out_signature='')
def SetSimAsString(self, n):
    modem = mockobject.objects[modem_path(n)]
    modem.props[MODEM_IFACE]['Sim'] = dbus.String(str(modem.props[MODEM_IFACE]['Sim']))
