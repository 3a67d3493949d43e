#!/usr/bin/env node
// Self-test of tests/js/yclient.mjs against the JS reference server (@y/websocket-server)
// and a tiny scripted ws server (URL/token/Origin, 44xx close codes).
//
//   node tests/js/selftest.mjs      # exits non-zero on failure
//
// Starts every process it needs on free loopback ports and kills them all at the end.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { createInterface } from 'node:readline'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import { WebSocketServer } from 'ws'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const YCLIENT = join(here, 'yclient.mjs')
const REF_SERVER = join(root, 'node_modules', '@y', 'websocket-server', 'src', 'server.js')
const TRACE_DIR = process.env.TRACE_DIR || join(root, '..', 'shared', 'data', 'traces', 'ascii_only')
const VERBOSE = !!process.env.VERBOSE

const children = new Set()

function killAll () {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}
process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130) })

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

async function startReferenceServer () {
  const port = await freePort()
  const child = spawn(process.execPath, [REF_SERVER], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  children.add(child)
  child.on('exit', () => children.delete(child))
  child.stderr.on('data', (d) => process.stderr.write(`[ref-server] ${d}`))
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('reference server did not start')), 10000)
    child.stdout.on('data', (d) => {
      if (String(d).includes('running at')) { clearTimeout(timer); resolve() }
    })
    child.on('exit', (code) => reject(new Error(`reference server exited ${code}`)))
  })
  return { child, url: `ws://127.0.0.1:${port}/ws/documents` }
}

class YClient {
  constructor (args, label) {
    this.label = label
    this.nextId = 1
    this.pending = new Map()
    this.lines = []
    this.child = spawn(process.execPath, [YCLIENT, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    children.add(this.child)
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => {
      children.delete(this.child)
      for (const { reject } of this.pending.values()) reject(new Error(`${label} exited (${code ?? signal})`))
      this.pending.clear()
      resolve(code)
    }))
    this.child.stderr.on('data', (d) => { if (VERBOSE) process.stderr.write(`[${label}] ${d}`) })
    this.ready = new Promise((resolve, reject) => { this._ready = { resolve, reject } })
    createInterface({ input: this.child.stdout }).on('line', (line) => this._line(line))
  }

  _line (line) {
    this.lines.push(line)
    let msg
    try { msg = JSON.parse(line) } catch {
      this._ready.reject(new Error(`${this.label}: non-JSON stdout line ${JSON.stringify(line)}`))
      throw new Error(`${this.label}: non-JSON stdout line ${JSON.stringify(line)}`)
    }
    if (msg.event === 'ready') return this._ready.resolve()
    const waiter = this.pending.get(msg.id)
    if (!waiter) throw new Error(`${this.label}: unexpected line ${line}`)
    this.pending.delete(msg.id)
    waiter.resolve(msg)
  }

  send (cmd, args = {}, timeoutMs = 30000) {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.label}: no answer to ${cmd} in ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (m) => { clearTimeout(timer); resolve(m) },
        reject: (e) => { clearTimeout(timer); reject(e) }
      })
      this.child.stdin.write(JSON.stringify({ id, cmd, ...args }) + '\n')
    })
  }

  // send and require ok:true
  async call (cmd, args = {}, timeoutMs) {
    const res = await this.send(cmd, args, timeoutMs)
    if (!res.ok) throw new Error(`${this.label}: ${cmd} failed: ${res.error}`)
    return res
  }

  kill () {
    if (this.child.exitCode === null) this.child.kill('SIGKILL')
  }
}

function assert (cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`)
}
function assertEqual (a, b, msg) {
  const ja = JSON.stringify(a)
  const jb = JSON.stringify(b)
  if (ja !== jb) throw new Error(`${msg}: ${ja.slice(0, 200)} !== ${jb.slice(0, 200)}`)
}

function smallestTrace () {
  const files = readdirSync(TRACE_DIR).filter((f) => f.endsWith('.json.gz'))
  if (!files.length) throw new Error(`no traces in ${TRACE_DIR}`)
  files.sort((a, b) => statSync(join(TRACE_DIR, a)).size - statSync(join(TRACE_DIR, b)).size)
  return join(TRACE_DIR, files[0])
}

// ------------------------------------------------------------------------------ tests

const tests = []
const test = (name, fn) => tests.push({ name, fn })
let ref

test('two clients converge on paragraphs and text', async () => {
  const doc = randomUUID()
  const a = new YClient(['--url', ref.url, '--doc', doc], 'A')
  const b = new YClient(['--url', ref.url, '--doc', doc], 'B')
  try {
    await Promise.all([a.ready, b.ready])
    await a.call('wait_synced', { timeout: 10 })
    await b.call('wait_synced', { timeout: 10 })
    await a.call('append_paragraph', { text: 'hello' })
    await a.call('append_paragraph', { text: 'world' })
    const got = await b.call('wait_paragraphs', { count: 2, timeout: 10 })
    assertEqual(got.paragraphs, ['hello', 'world'], 'paragraphs')
    assertEqual(got.xml, '<paragraph>hello</paragraph><paragraph>world</paragraph>', 'xml')

    await b.call('insert_text', { name: 't', index: 0, text: 'abcdef' })
    await a.call('wait_text', { name: 't', equals: 'abcdef', timeout: 10 })
    await a.call('delete_text', { name: 't', index: 1, length: 2 })
    await a.call('insert_text', { name: 't', index: 0, text: '>' })
    await b.call('wait_text', { name: 't', equals: '>adef', timeout: 10 })
    assertEqual((await a.call('text', { name: 't' })).text, '>adef', 'text A')

    const short = await b.send('wait_text', { name: 't', equals: 'nope', timeout: 0.2 })
    assert(!short.ok && /^timeout/.test(short.error), `wait_text timeout error: ${JSON.stringify(short)}`)

    const st = await a.call('status')
    assert(st.connected && st.synced, 'status connected+synced')
    assertEqual(st.closeCodes, [], 'no close codes')
    assert(st.messagesReceived > 0, 'messagesReceived > 0')
  } finally {
    a.kill(); b.kill()
  }
})

test('awareness peers are seen, removed on close', async () => {
  const doc = randomUUID()
  const a = new YClient(['--url', ref.url, '--doc', doc], 'A')
  const b = new YClient(['--url', ref.url, '--doc', doc], 'B')
  try {
    await Promise.all([a.ready, b.ready])
    await a.call('set_awareness', { state: { user: { name: 'Ann', color: '#e6194b' } } })
    await b.call('set_awareness', { state: { user: { name: 'Bob', color: '#3cb44b' } } })
    const pa = await a.call('wait_peers', { count: 1, timeout: 10 })
    const pb = await b.call('wait_peers', { count: 1, timeout: 10 })
    assertEqual(pa.peers, [{ user: { name: 'Bob', color: '#3cb44b' } }], 'A sees Bob')
    assertEqual(pb.peers, [{ user: { name: 'Ann', color: '#e6194b' } }], 'B sees Ann')
    await b.call('close')
    assertEqual(await b.exited, 0, 'B exit code after close')
    const deadline = Date.now() + 10000
    let peers
    do {
      peers = (await a.call('peers')).peers
      if (peers.length === 0) break
      await sleep(50)
    } while (Date.now() < deadline)
    assertEqual(peers, [], 'A no longer sees B after it closed')
  } finally {
    a.kill(); b.kill()
  }
})

test('protocol errors are answered, not fatal; stdin EOF exits 0', async () => {
  const c = new YClient(['--url', ref.url, '--doc', randomUUID()], 'C')
  try {
    await c.ready
    const r1 = await c.send('no_such_cmd')
    assert(!r1.ok && /unknown cmd/.test(r1.error), 'unknown cmd')
    const r2 = await c.send('insert_text', { name: 't', index: 5, text: 'x' })
    assert(!r2.ok, 'insert past end fails')
    const r3 = await c.send('replay_trace', { path: '/nonexistent.json.gz' })
    assert(!r3.ok && /ENOENT/.test(r3.error), 'replay missing file')
    const r4 = await c.send('wait_paragraphs', { timeout: 0.1 })
    assert(!r4.ok, 'wait_paragraphs without count')
    const r5 = await c.call('paragraphs')
    assertEqual(r5.paragraphs, [], 'empty fragment')
    c.child.stdin.end()
    assertEqual(await c.exited, 0, 'exit code after stdin EOF')
    assert(c.lines.every((l) => { try { JSON.parse(l); return true } catch { return false } }), 'stdout is JSON only')
  } finally {
    c.kill()
  }
})

test('replay of the smallest ascii_only trace, read back by a fresh client', async () => {
  const path = smallestTrace()
  const trace = JSON.parse(gunzipSync(readFileSync(path)).toString('utf8'))
  const doc = randomUUID()
  const w = new YClient(['--url', ref.url, '--doc', doc], 'writer')
  const r = new YClient(['--url', ref.url, '--doc', doc], 'live-reader')
  let fresh
  try {
    await Promise.all([w.ready, r.ready])
    await w.call('wait_synced')
    await r.call('wait_synced')
    const t0 = Date.now()
    const res = await w.call('replay_trace', { path, name: 'trace' }, 600000)
    const replayMs = Date.now() - t0
    assert(res.endMatches, 'endMatches')
    assertEqual(res.length, trace.endContent.length, 'length')
    await r.call('wait_text', { name: 'trace', equals: trace.endContent, timeout: 120 }, 130000)
    const liveMs = Date.now() - t0
    const st = await w.call('status')

    const t1 = Date.now()
    fresh = new YClient(['--url', ref.url, '--doc', doc], 'fresh-reader')
    await fresh.ready
    await fresh.call('wait_synced', { timeout: 30 })
    const got = await fresh.call('text', { name: 'trace' })
    assert(got.text === trace.endContent, 'fresh client reads endContent')
    const coldMs = Date.now() - t1
    console.log(`  trace ${path.split('/').pop()}: ${res.patches} patches, ${res.length} chars; ` +
      `replay ${(res.appliedSeconds).toFixed(2)} s applied, ${(res.seconds).toFixed(2)} s drained ` +
      `(${Math.round(res.patches / res.seconds)} patches/s), ${replayMs} ms round trip; ` +
      `live reader converged after ${liveMs} ms; fresh reader synced in ${coldMs} ms; ` +
      `writer sent ${st.messagesSent} messages`)
  } finally {
    w.kill(); r.kill(); if (fresh) fresh.kill()
  }
})

test('URL, token, Origin; 4401/4403 stop reconnecting', async () => {
  const port = await freePort()
  const seen = []
  const wss = new WebSocketServer({ host: '127.0.0.1', port })
  await new Promise((resolve) => wss.on('listening', resolve))
  wss.on('connection', (ws, req) => {
    seen.push({ url: req.url, origin: req.headers.origin, extra: req.headers['x-test'] })
    const code = req.url.includes('deny401') ? 4401 : req.url.includes('deny403') ? 4403 : 1011
    setTimeout(() => ws.close(code, 'refused'), 20)
  })
  const base = `ws://127.0.0.1:${port}/ws/documents`
  const clients = []
  try {
    const a = new YClient(['--url', base, '--doc', 'deny401', '--token', 't/k n=1&x',
      '--origin', 'http://testserver', '--header', 'X-Test: yes'], 'D1')
    const b = new YClient(['--url', base, '--doc', 'deny403'], 'D2')
    const c = new YClient(['--url', base, '--doc', 'transient'], 'D3')
    clients.push(a, b, c)
    await Promise.all(clients.map((x) => x.ready))
    await sleep(1500)
    const sa = await a.call('status')
    const sb = await b.call('status')
    const sc = await c.call('status')
    assertEqual(sa.closeCodes, [4401], '4401 seen once')
    assertEqual(sa.connectAttempts, 1, 'no reconnect after 4401')
    assertEqual(sb.closeCodes, [4403], '4403 seen once')
    assertEqual(sb.connectAttempts, 1, 'no reconnect after 4403')
    assert(sc.closeCodes.length >= 2 && sc.closeCodes.every((x) => x === 1011), `1011 reconnects: ${JSON.stringify(sc.closeCodes)}`)
    const first = seen.find((s) => s.url.includes('deny401'))
    assertEqual(first, { url: '/ws/documents/deny401?token=t%2Fk%20n%3D1%26x', origin: 'http://testserver', extra: 'yes' }, 'handshake')
    const w = await a.send('wait_synced', { timeout: 5 })
    assert(!w.ok && /^not connecting/.test(w.error), `wait_synced fails fast after 4401: ${JSON.stringify(w)}`)
    const w3 = await c.send('wait_synced', { timeout: 0.2 })
    assert(!w3.ok && /^timeout/.test(w3.error), 'wait_synced times out')
  } finally {
    for (const x of clients) x.kill()
    for (const ws of wss.clients) ws.terminate()
    await new Promise((resolve) => wss.close(resolve))
  }
})

// ------------------------------------------------------------------------------ main

let passed = 0
let failed = 0
try {
  ref = await startReferenceServer()
  for (const { name, fn } of tests) {
    const t0 = Date.now()
    try {
      await fn()
      passed++
      console.log(`ok   ${name} (${Date.now() - t0} ms)`)
    } catch (err) {
      failed++
      console.log(`FAIL ${name}: ${err && err.stack ? err.stack : err}`)
    }
  }
} catch (err) {
  failed++
  console.log(`FAIL setup: ${err && err.stack ? err.stack : err}`)
} finally {
  killAll()
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
