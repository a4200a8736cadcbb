#!/usr/bin/env node
// The integration tests' LwM2M server: Telefonica's lwm2m-node-lib (an
// independent implementation, in-memory registry) driven by a plan of checks.
//
// node lwm2m-server.js --port P [--ep NAME] [--timeout MS] [--expect-dereg MS] CHECK...
//   CHECK := read:PATH[:FMT][~TEXT]   FMT text|senml|tlv|senmlcbor; ~TEXT: answer must contain it
//          | write:PATH=VALUE          (text/plain)
//          | exec:PATH[=ARGS][@CODE]   ARGS as the payload ("0='text'"); @CODE: the answer
//                                      must be CODE (4.05, ...) instead of 2.04
//          | discover:PATH[~TEXT]
//          | attr:PATH?QUERY
//          | observe:PATH:MS:MIN       at least MIN notifications within MS, then cancel
//          | watch:PATH                observe PATH for the rest of the run (its values
//                                      are events too), and go on at once
//          | until:PATH=VALUE:MS       wait (at most MS) until a watched PATH's last value
//                                      is VALUE
//          | register:N:MS             wait (at most MS) for the endpoint's Nth Register (a
//                                      device that started again), then go on with it
//          | reregister:MS             the same for the endpoint's next Register (after a
//                                      De-register: a reboot)
//          | status:read:PATH:CODE     the read must fail with CODE (e.g. 4.04)
//          | until:PATH~TEXT:MS        within MS, a notification of PATH or a read of it (one
//                                      every 250 ms, not waited for) carried TEXT
//          | gate:FILE                 wait until FILE exists (the test has looked at the device)
// --stay MS: after the plan, keep serving (Updates, further Registers) for MS.
// One JSON line per event on stdout. Exit 0: every check passed (and the
// device de-registered if asked); 1: a check failed; 2: timeout.
'use strict';
const fs = require('fs');
const path = require('path');
const NM = process.env.LWM2M_NODE_MODULES;
if (!NM) { console.error('LWM2M_NODE_MODULES not set (tests/tools/lwm2m-server-setup.sh)'); process.exit(3); }
const lib = require(path.join(NM, 'lwm2m-node-lib'));
const coap = require(path.join(NM, 'coap'));
const srv = lib.server;

const args = process.argv.slice(2);
const o = {};
const checks = [];
for (let k = 0; k < args.length; k++) {
    if (args[k].startsWith('--')) o[args[k].slice(2)] = args[++k];
    else checks.push(args[k]);
}
const port = Number(o.port || 5683);
const started = Date.now();
const emit = e => process.stdout.write(JSON.stringify(Object.assign({ ms: Date.now() - started }, e)) + '\n');

// the library's own format numbers predate the standard: give it the registered ones
const FMT = {
    text: 'text/plain', link: 'application/link-format', tlv: 'application/vnd.oma.lwm2m+tlv',
    senml: 'application/senml+json', senmlcbor: 'application/senml+cbor',
};
const cfg = {
    port, udpWindow: 100, lifetimeCheckInterval: 1000, defaultType: 'Device',
    logLevel: 'FATAL', ipProtocol: 'udp4', serverProtocol: 'udp4',
    deviceRegistry: { type: 'memory' }, writeFormat: 'text/plain', defaultAcceptFormat: 'text/plain',
    formats: [
        { name: FMT.tlv, value: 11542 }, { name: 'application/vnd.oma.lwm2m+json', value: 11543 },
        { name: FMT.senml, value: 110 }, { name: FMT.senmlcbor, value: 112 },
    ],
};

// the values each path was seen with (notifications and until's reads), for until:
const seenValues = {};
const saw = (p, v) => { (seenValues[p] = seenValues[p] || []).push(String(v)); };
let info = null, dev = null, failed = 0, passed = 0, finished = false, deregistered = false;
// watched paths: their last value, and the checks waiting for one
const watched = {}, waiting = [];
// the endpoint's Registers so far, and the checks waiting for one
let registers = 0;
const regWaiting = [];
function watchValue(p, v, first) {
    watched[p] = String(v);
    saw(p, v);
    emit({ event: first ? 'watch' : 'notify', path: p, value: v });
    for (const w of waiting.filter(w => w.path === p && w.value === String(v))) w.res();
}

function end(code) {
    if (finished) return;
    finished = true;
    emit({ event: 'summary', passed, failed, deregistered });
    const bye = () => process.exit(code);
    srv.stop(info, bye);
    setTimeout(bye, 500);
}
setTimeout(() => { emit({ event: 'timeout' }); end(2); }, Number(o.timeout || 30000)).unref();

// binary answers: the library turns payloads into utf8 strings, so fetch those
// ourselves, through the server's own proxy, so the request leaves from its port
function raw(pathname, accept) {
    return new Promise((resolve, reject) => {
        const req = new coap.Agent({ type: 'udp4' }).request({
            host: '127.0.0.1', port, method: 'GET', pathname,
            proxyUri: `coap://${dev.address}:${dev.port}`, options: { Accept: accept },
        });
        req.on('response', res => {
            const parts = [];
            res.on('data', d => parts.push(d));
            res.on('end', () => resolve({ code: res.code, cf: res.headers['Content-Format'], body: Buffer.concat(parts) }));
        });
        req.on('error', reject);
        req.end();
    });
}

// OMA TLV to [{kind, id, value|items}] (written for these tests)
function tlv(b) {
    const out = [];
    for (let i = 0; i < b.length;) {
        const h = b[i++], kind = h >> 6;
        let id = b[i++];
        if (h & 0x20) id = (id << 8) | b[i++];
        const lt = (h >> 3) & 3;
        let len = h & 7;
        if (lt) { len = b.readUIntBE(i, lt); i += lt; }
        const v = b.subarray(i, i + len);
        i += len;
        out.push(kind === 0 || kind === 2 ? { kind, id, items: tlv(v) } : { kind, id, value: v.toString('latin1') });
    }
    return out;
}

const cb2p = fn => new Promise(resolve => fn((err, value) => resolve({ err, value })));

async function check(spec) {
    const m = /^(\w+):(.*)$/.exec(spec);
    const kind = m[1];
    let rest = m[2], want = null;
    const tilde = rest.indexOf('~');
    if (tilde >= 0) { want = rest.slice(tilde + 1); rest = rest.slice(0, tilde); }
    const t = Date.now();
    const r = { check: spec };
    const ids = p => p.replace(/^\//, '').split('/');
    if (kind === 'read' || kind === 'status') {
        let p = rest, fmt = 'text', code = null;
        if (kind === 'status') { const s = rest.replace(/^read:/, '').split(':'); p = s[0]; code = s[1]; }
        else if (rest.includes(':')) [p, fmt] = rest.split(':');
        if (fmt === 'tlv' || fmt === 'senmlcbor' || code) {
            const a = await raw(p, FMT[fmt]);
            r.code = a.code;
            r.content_format = a.cf;
            r.value = fmt === 'tlv' && a.code === '2.05' ? tlv(a.body) : a.body.toString('hex');
            r.ok = code ? a.code === code : a.code === '2.05';
            if (want && r.ok) r.ok = JSON.stringify(r.value).includes(want) || a.body.toString('latin1').includes(want);
        } else {
            const [oi, ii, ri] = ids(p);
            cfg.defaultAcceptFormat = FMT[fmt];
            const a = await cb2p(cb => srv.read(dev.id, oi, ii, ri === undefined ? '' : ri, cb));
            cfg.defaultAcceptFormat = FMT.text;
            r.ok = !a.err && (!want || String(a.value).includes(want));
            r.value = a.value;
            r.error = a.err && String(a.err.code || a.err.name || a.err);
        }
    } else if (kind === 'write') {
        const [p, v] = rest.split('=');
        const [oi, ii, ri] = ids(p);
        const a = await cb2p(cb => srv.write(dev.id, oi, ii, ri, v, cb));
        r.ok = !a.err;
        r.error = a.err && String(a.err.code || a.err);
    } else if (kind === 'exec') {
        // exec:PATH[=ARGS][@CODE]: the arguments as the payload (TS 1.1 Core 5.4.5), and
        // the code the device must answer if not 2.04 (4.05, 4.00, ...)
        let p = rest, argv, code = null;
        const at = p.lastIndexOf('@');
        if (at >= 0) { code = p.slice(at + 1); p = p.slice(0, at); }
        const eq = p.indexOf('=');
        if (eq >= 0) { argv = p.slice(eq + 1); p = p.slice(0, eq); }
        const [oi, ii, ri] = ids(p);
        const a = await cb2p(cb => srv.execute(dev.id, oi, ii, ri, argv, cb));
        r.code = a.err ? String(a.err.code || a.err.name || a.err) : '2.04';
        r.ok = code ? r.code === code : !a.err;
        r.error = a.err && String(a.err.code || a.err);
    } else if (kind === 'discover') {
        const [oi, ii, ri] = ids(rest);
        // this library picks the operation by how many arguments it gets
        const a = await cb2p(cb => ri !== undefined ? srv.discover(dev.id, oi, ii, ri, cb) :
            ii !== undefined ? srv.discover(dev.id, oi, ii, cb) : srv.discover(dev.id, oi, cb));
        r.ok = !a.err && (!want || String(a.value).includes(want));
        r.value = a.value;
    } else if (kind === 'attr') {
        const [p, q] = rest.split('?');
        const [oi, ii, ri] = ids(p);
        const attrs = Object.fromEntries(q.split('&').map(kv => kv.split('=')));
        const a = await cb2p(cb => srv.writeAttributes(dev.id, oi, ii, ri, attrs, cb));
        r.ok = !a.err;
        r.error = a.err && String(a.err.code || a.err);
    } else if (kind === 'observe') {
        const [p, ms, min] = rest.split(':');
        const [oi, ii, ri] = ids(p);
        const seen = [];
        const a = await new Promise(resolve => srv.observe(dev.id, oi, ii, ri,
            v => { seen.push(v); emit({ event: 'notify', path: p, value: v }); },
            (err, first) => resolve({ err, first })));
        if (!a.err) await new Promise(res => setTimeout(res, Number(ms)));
        const c = a.err ? {} : await cb2p(cb => srv.cancelObserver(dev.id, oi, ii, ri, cb));
        r.first = a.first;
        r.notifications = seen.length;
        r.ok = !a.err && !c.err && seen.length >= Number(min);
        r.error = a.err && String(a.err.code || a.err);
    } else if (kind === 'watch') {
        const [oi, ii, ri] = ids(rest);
        const a = await new Promise(resolve => srv.observe(dev.id, oi, ii, ri,
            v => watchValue(rest, v, false), (err, first) => resolve({ err, first })));
        if (!a.err) watchValue(rest, a.first, true);
        r.first = a.first;
        r.ok = !a.err;
        r.error = a.err && String(a.err.code || a.err);
    } else if (kind === 'until') {
        if (rest.includes('=')) {
            // =VALUE: a watched PATH's last value is VALUE (now, or within MS)
            const [p, vms] = rest.split('=');
            const [v, ms] = vms.split(':');
            if (watched[p] !== v)
                await Promise.race([new Promise(res => waiting.push({ path: p, value: v, res })),
                    new Promise(res => setTimeout(res, Number(ms)))]);
            r.value = watched[p];
            r.ok = watched[p] === v;
            return Object.assign(r, { took_ms: Date.now() - t });
        }
        // ~TEXT: a value seen since this check began (notified, or read every 250 ms) carries TEXT
        const [p, ms] = [rest, want.split(':').pop()];
        want = want.slice(0, want.lastIndexOf(':'));
        const [oi, ii, ri] = ids(p);
        const from = (seenValues[p] || []).length, end = t + Number(ms);
        let reading = false;
        r.ok = false;
        while (Date.now() < end) {
            if ((seenValues[p] || []).slice(from).some(v => v.includes(want))) { r.ok = true; break; }
            if (!reading) {
                reading = true;
                srv.read(dev.id, oi, ii, ri, (err, v) => { reading = false; if (!err) saw(p, v); });
            }
            await new Promise(res => setTimeout(res, 250));
        }
        r.values = (seenValues[p] || []).slice(from);
    } else if (kind === 'gate') {
        while (!fs.existsSync(rest)) await new Promise(res => setTimeout(res, 100));
        r.ok = true;
    } else if (kind === 'register' || kind === 'reregister') {
        const [n, ms] = kind === 'register' ? rest.split(':').map(Number) : [registers + 1, Number(rest)];
        if (registers < n)
            await Promise.race([new Promise(res => regWaiting.push({ n, res })),
                new Promise(res => setTimeout(res, ms))]);
        r.registers = registers;
        r.ok = registers >= n;
        if (r.ok) {
            const a = await cb2p(cb => srv.getRegistry().getByName(dev.name, cb));
            r.ok = !a.err;
            r.error = a.err && String(a.err);
            if (!a.err) dev = a.value;
        }
    } else {
        r.ok = false;
        r.error = 'unknown check';
    }
    r.took_ms = Date.now() - t;
    return r;
}

srv.start(cfg, (err, i) => {
    if (err) { emit({ event: 'error', error: String(err) }); process.exit(3); }
    info = i;
    emit({ event: 'listening', port });
    srv.setHandler(info, 'registration', (ep, lifetime, version, binding, payload, cb) => {
        emit({ event: 'register', ep, lifetime, version, binding, payload });
        cb();
        if (!o.ep || ep === o.ep) {
            registers++;
            // the registry holds the new registration once this handler has returned
            setTimeout(() => regWaiting.filter(w => w.n <= registers).forEach(w => w.res()), 50);
        }
        if (o.ep && ep !== o.ep) return;
        // registered anew: the registry gave it a new id (and maybe address): the plan
        // goes on with that registration
        if (dev) {
            if (dev.name === ep) setTimeout(() => srv.getRegistry().getByName(ep, (e, d) => { if (!e && d) dev = d; }), 50);
            return;
        }
        setTimeout(() => srv.getRegistry().getByName(ep, async (e, d) => {
            if (e) { emit({ event: 'error', error: String(e) }); return end(1); }
            dev = d;
            for (const c of checks) {
                const r = await check(c);
                r.ok ? passed++ : failed++;
                emit(Object.assign({ event: 'check' }, r));
            }
            emit({ event: 'plan_done' });
            if (o.stay) return setTimeout(() => end(failed ? 1 : 0), Number(o.stay));
            if (!o['expect-dereg'] || deregistered) return end(failed ? 1 : 0);
            setTimeout(() => end(1), Number(o['expect-dereg']));
        }), 50);
    });
    srv.setHandler(info, 'updateRegistration', (d, payload, cb) => {
        emit({ event: 'update', ep: d.name, lifetime: d.lifetime, payload });
        cb();
    });
    srv.setHandler(info, 'unregistration', (d, cb) => {
        emit({ event: 'deregister', ep: d && d.name });
        deregistered = true;
        cb();
        if (dev && o['expect-dereg'] && !finished) setTimeout(() => end(failed ? 1 : 0), 200);
    });
});
