#!/usr/bin/env node
// Test driver around the real JS Yjs client (yjs 13 + y-websocket 3 WebsocketProvider + ws).
// Protocol (JSON lines): see tests/js/README.md.
//
//   node tests/js/yclient.mjs --url ws://127.0.0.1:PORT/ws/documents --doc <uuid>
//        [--token T] [--origin http://host] [--header 'Name: value' ...]
//
// stdout carries only protocol lines; every log goes to stderr.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import { createInterface } from 'node:readline'
import { readFile } from 'node:fs/promises'
import { gunzipSync } from 'node:zlib'

// Anything a library prints with console.log must not corrupt the protocol stream.
console.log = console.info = console.debug = (...args) => console.error(...args)

const log = (...args) => console.error('[yclient]', ...args)

function parseArgs (argv) {
  const opts = { url: null, doc: null, token: null, origin: null, headers: {} }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${arg}`)
      return argv[++i]
    }
    if (arg === '--url') opts.url = next()
    else if (arg === '--doc') opts.doc = next()
    else if (arg === '--token') opts.token = next()
    else if (arg === '--origin') opts.origin = next()
    else if (arg === '--header') {
      const h = next()
      const colon = h.indexOf(':')
      if (colon < 1) throw new Error(`bad --header ${JSON.stringify(h)}, want 'Name: value'`)
      opts.headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim()
    } else throw new Error(`unknown argument ${arg}`)
  }
  if (!opts.url || !opts.doc) throw new Error('usage: yclient.mjs --url WS_URL --doc DOC [--token T] [--origin O] [--header "N: v"]')
  return opts
}

let opts
try {
  opts = parseArgs(process.argv.slice(2))
} catch (err) {
  console.error(String(err.message || err))
  process.exit(2)
}

const stats = {
  connectAttempts: 0,
  messagesReceived: 0,
  messagesSent: 0,
  closeCodes: [],
  closeReasons: [],
  errors: []
}

const wsOptions = {}
if (opts.origin) wsOptions.origin = opts.origin
if (Object.keys(opts.headers).length) wsOptions.headers = opts.headers

// A `ws` WebSocket that sends our Origin/extra headers and counts traffic.
class DriverWebSocket extends WebSocket {
  constructor (url, protocols) {
    super(url, protocols, wsOptions)
    stats.connectAttempts++
    this.on('message', () => { stats.messagesReceived++ })
  }

  send (data, ...rest) {
    stats.messagesSent++
    return super.send(data, ...rest)
  }
}

const ydoc = new Y.Doc()
const params = opts.token != null ? { token: opts.token } : {}
const provider = new WebsocketProvider(opts.url, opts.doc, ydoc, {
  params,
  WebSocketPolyfill: DriverWebSocket,
  disableBc: true
})
provider.on('connection-close', (event) => {
  // event is null when the provider closed the socket itself (disconnect / watchdog)
  if (event) {
    stats.closeCodes.push(event.code)
    stats.closeReasons.push(event.reason || '')
    log('socket closed', event.code, event.reason || '')
  }
})
provider.on('connection-error', (event) => {
  const msg = (event && (event.message || (event.error && event.error.message))) || 'error'
  if (stats.errors.length < 50) stats.errors.push(msg)
  log('socket error', msg)
})
provider.on('status', ({ status }) => log('status', status))

const fragment = ydoc.getXmlFragment('default')

// ---------------------------------------------------------------- helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const tick = () => new Promise((resolve) => setImmediate(resolve))

function timeoutSeconds (args, dflt = 10) {
  const t = args.timeout == null ? dflt : Number(args.timeout)
  if (!Number.isFinite(t) || t < 0) throw new Error(`bad timeout ${JSON.stringify(args.timeout)}`)
  return t
}

// Poll `pred` every 10 ms until it is truthy or `seconds` pass. Returns whether it became true.
async function waitFor (pred, seconds) {
  const deadline = Date.now() + seconds * 1000
  for (;;) {
    if (pred()) return true
    if (Date.now() >= deadline) return false
    await sleep(10)
  }
}

function plainText (node) {
  if (node instanceof Y.XmlText) {
    return node.toDelta().map((op) => (typeof op.insert === 'string' ? op.insert : '')).join('')
  }
  if (node instanceof Y.XmlElement || node instanceof Y.XmlFragment) {
    return node.toArray().map(plainText).join('')
  }
  return ''
}

function paragraphs () {
  return {
    paragraphs: fragment.toArray().map(plainText),
    xml: fragment.toString()
  }
}

function requireString (args, key) {
  if (typeof args[key] !== 'string') throw new Error(`"${key}" must be a string`)
  return args[key]
}

function requireInt (args, key) {
  const v = args[key]
  if (!Number.isInteger(v) || v < 0) throw new Error(`"${key}" must be a non-negative integer`)
  return v
}

const textName = (args) => (args.name == null ? 'text' : requireString(args, 'name'))

function otherStates () {
  const peers = []
  const peerIds = []
  for (const [clientId, state] of provider.awareness.getStates()) {
    if (clientId === ydoc.clientID) continue
    peers.push(state)
    peerIds.push(clientId)
  }
  return { peers, peerIds }
}

async function drain (seconds) {
  return waitFor(() => {
    const ws = provider.ws
    return !ws || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount === 0
  }, seconds)
}

// Close the provider and give the socket a moment to send its close frame.
async function shutdown () {
  const ws = provider.ws
  provider.destroy()
  if (ws && ws.readyState !== WebSocket.CLOSED) {
    await Promise.race([
      new Promise((resolve) => ws.once('close', resolve)),
      sleep(1000)
    ])
  }
}

const b64 = (u8) => Buffer.from(u8).toString('base64')

// ---------------------------------------------------------------- commands

const commands = {
  status () {
    return {
      connected: provider.wsconnected,
      synced: provider.synced,
      closeCodes: stats.closeCodes,
      closeReasons: stats.closeReasons,
      messagesReceived: stats.messagesReceived,
      messagesSent: stats.messagesSent,
      connectAttempts: stats.connectAttempts,
      shouldConnect: provider.shouldConnect,
      errors: stats.errors,
      clientId: ydoc.clientID
    }
  },

  async wait_synced (args) {
    // gives up early once the provider stopped reconnecting (e.g. after close code 4401/4403)
    await waitFor(() => provider.synced || !provider.shouldConnect, timeoutSeconds(args))
    if (provider.synced) return {}
    const why = provider.shouldConnect ? 'timeout' : 'not connecting'
    throw new Error(`${why} (connected=${provider.wsconnected}, closeCodes=${JSON.stringify(stats.closeCodes)})`)
  },

  append_paragraph (args) {
    const text = args.text == null ? '' : requireString(args, 'text')
    ydoc.transact(() => {
      const p = new Y.XmlElement('paragraph')
      fragment.push([p])
      const t = new Y.XmlText()
      p.push([t])
      if (text.length) t.insert(0, text)
    })
    return { count: fragment.length }
  },

  paragraphs () {
    return paragraphs()
  },

  async wait_paragraphs (args) {
    const count = requireInt(args, 'count')
    if (!(await waitFor(() => fragment.length >= count, timeoutSeconds(args)))) {
      throw new Error(`timeout: ${fragment.length} of ${count} paragraphs`)
    }
    return paragraphs()
  },

  insert_text (args) {
    const ytext = ydoc.getText(textName(args))
    const index = requireInt(args, 'index')
    const text = requireString(args, 'text')
    if (index > ytext.length) throw new Error(`index ${index} > length ${ytext.length}`)
    ytext.insert(index, text)
    return { length: ytext.length }
  },

  delete_text (args) {
    const ytext = ydoc.getText(textName(args))
    const index = requireInt(args, 'index')
    const length = requireInt(args, 'length')
    if (index + length > ytext.length) throw new Error(`range ${index}+${length} > length ${ytext.length}`)
    ytext.delete(index, length)
    return { length: ytext.length }
  },

  text (args) {
    return { text: ydoc.getText(textName(args)).toString() }
  },

  async wait_text (args) {
    const ytext = ydoc.getText(textName(args))
    const want = requireString(args, 'equals')
    if (!(await waitFor(() => ytext.toString() === want, timeoutSeconds(args)))) {
      throw new Error(`timeout: text length ${ytext.length}, want ${want.length}`)
    }
    return { text: want }
  },

  async replay_trace (args) {
    const path = requireString(args, 'path')
    const ytext = ydoc.getText(textName(args))
    const raw = await readFile(path)
    const trace = JSON.parse((path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8'))
    const startContent = trace.startContent || ''
    const current = ytext.toString()
    if (current !== startContent) {
      if (current.length !== 0) throw new Error(`text "${textName(args)}" is neither empty nor startContent`)
      ydoc.transact(() => ytext.insert(0, startContent))
    }
    const t0 = performance.now()
    let patches = 0
    const maxBuffered = 4 * 1024 * 1024
    for (const txn of trace.txns) {
      for (const [pos, del, ins] of txn.patches) {
        // one transaction per patch -> one update message on the wire, like a typing client
        ydoc.transact(() => {
          if (del > 0) ytext.delete(pos, del)
          if (ins) ytext.insert(pos, ins)
        })
        patches++
        if (patches % 200 === 0) {
          await tick()
          // back-pressure: do not let the socket's send buffer grow without bound
          const ws = provider.ws
          while (ws && ws === provider.ws && ws.readyState === WebSocket.OPEN && ws.bufferedAmount > maxBuffered) {
            await sleep(1)
          }
        }
      }
    }
    const appliedSeconds = (performance.now() - t0) / 1000
    const drained = await drain(timeoutSeconds(args, 120))
    const text = ytext.toString()
    return {
      patches,
      length: text.length,
      endMatches: text === trace.endContent,
      seconds: (performance.now() - t0) / 1000,
      appliedSeconds,
      drained,
      connected: provider.wsconnected
    }
  },

  async flush (args) {
    return { drained: await drain(timeoutSeconds(args)) }
  },

  set_awareness (args) {
    provider.awareness.setLocalState(args.state === undefined ? null : args.state)
    return {}
  },

  peers () {
    return otherStates()
  },

  async wait_peers (args) {
    const count = requireInt(args, 'count')
    if (!(await waitFor(() => otherStates().peers.length >= count, timeoutSeconds(args)))) {
      throw new Error(`timeout: ${otherStates().peers.length} of ${count} peers`)
    }
    return otherStates()
  },

  encode_state () {
    return {
      update: b64(Y.encodeStateAsUpdate(ydoc)),
      stateVector: b64(Y.encodeStateVector(ydoc))
    }
  },

  disconnect () {
    provider.disconnect()
    return {}
  },

  connect () {
    provider.connect()
    return {}
  }
}

// ---------------------------------------------------------------- main loop

function write (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

let exiting = false
async function exitCleanly (code = 0) {
  if (exiting) return
  exiting = true
  try {
    await shutdown()
  } catch (err) {
    log('shutdown failed', err)
  }
  process.exit(code)
}

async function handle (line) {
  if (exiting) return
  let msg
  try {
    msg = JSON.parse(line)
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) throw new Error('not an object')
  } catch (err) {
    write({ id: null, ok: false, error: `bad request: ${err.message}` })
    return
  }
  const id = msg.id === undefined ? null : msg.id
  const cmd = msg.cmd
  if (cmd === 'close') {
    const ws = provider.ws
    provider.destroy()
    write({ id, ok: true })
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await Promise.race([new Promise((resolve) => ws.once('close', resolve)), sleep(1000)])
    }
    exiting = true
    process.exit(0)
  }
  const fn = Object.prototype.hasOwnProperty.call(commands, cmd) ? commands[cmd] : null
  if (!fn) {
    write({ id, ok: false, error: `unknown cmd ${JSON.stringify(cmd)}` })
    return
  }
  try {
    const result = await fn(msg)
    write({ id, ok: true, ...result })
  } catch (err) {
    write({ id, ok: false, error: String((err && err.message) || err) })
  }
}

process.on('uncaughtException', (err) => log('uncaught exception', err))
process.on('unhandledRejection', (err) => log('unhandled rejection', err))

let chain = Promise.resolve()
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false })
rl.on('line', (line) => {
  if (!line.trim()) return
  chain = chain.then(() => handle(line)).catch((err) => log('handler failed', err))
})
rl.on('close', () => {
  chain = chain.then(() => exitCleanly(0))
})

write({ event: 'ready' })
