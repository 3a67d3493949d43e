// Headless Chromium for the browser tests, driven over JSON lines on stdin/stdout.
//
//   node tests/e2e/browser_driver.mjs --chromium /usr/bin/chromium
//
// Prints {"event":"ready","version":...} once the browser runs, then answers each request
// line {"id":1,"cmd":"goto","page":"ann","url":"..."} with {"id":1,"ok":true,...} or
// {"id":1,"ok":false,"error":"..."}. Every named page lives in its own browser context
// (its own cookies), like a separate person's browser. The browser closes on "quit", when
// stdin ends (the test process went away) and on SIGTERM/SIGINT.
import { createInterface } from 'node:readline'
import { chromium } from 'playwright-core'

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
]

function option (name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : fallback
}

// Functions evaluated in the page, by name (a request may also send its own source as `fn`).
const PROBES = {
  // What a person reads in the editor: block texts, without the other people's carets.
  editorText: `() => {
    const pm = document.querySelector('#editor .ProseMirror')
    if (!pm) return null
    const copy = pm.cloneNode(true)
    copy.querySelectorAll('.collaboration-carets__caret, .collaboration-carets__selection')
      .forEach((node) => node.remove())
    return Array.from(copy.children).map((block) => block.textContent).join('\\n')
  }`,
  // The editor's own document (Tiptap's model), independent of rendering.
  modelText: `() => window.collab ? window.collab.editor.getText() : null`,
  status: `() => { const el = document.getElementById('editor-status'); return el ? el.textContent.trim() : null }`,
  caretLabels: `() => Array.from(document.querySelectorAll('#editor .collaboration-carets__label')).map((el) => el.textContent)`,
  editable: `() => { const pm = document.querySelector('#editor .ProseMirror'); return pm ? pm.getAttribute('contenteditable') : null }`,
}

const browser = await chromium.launch({
  executablePath: option('chromium', '/usr/bin/chromium'),
  headless: true,
  args: ARGS,
  timeout: 30_000,
})

const pages = new Map() // name -> {context, page, console: [], errors: []}
let closing = null

async function shutdown (code = 0) {
  if (!closing) {
    closing = (async () => {
      try { await browser.close() } catch {}
      process.exit(code)
    })()
  }
  return closing
}

process.on('SIGTERM', () => shutdown(0))
process.on('SIGINT', () => shutdown(0))

function send (message) {
  process.stdout.write(JSON.stringify(message) + '\n')
}

function entry (name) {
  const found = pages.get(name)
  if (!found) throw new Error(`no page named ${JSON.stringify(name)}`)
  return found
}

function probeSource (req) {
  if (req.fn) return req.fn
  const source = PROBES[req.probe]
  if (!source) throw new Error(`unknown probe ${JSON.stringify(req.probe)}`)
  return source
}

async function evaluate (page, req) {
  const expression = `(${probeSource(req)})(${JSON.stringify(req.arg ?? null)})`
  return page.evaluate(expression)
}

function matches (value, req) {
  if ('equals' in req) return JSON.stringify(value) === JSON.stringify(req.equals)
  if ('contains' in req) {
    if (typeof value === 'string' || Array.isArray(value)) return value.includes(req.contains)
    return false
  }
  return Boolean(value)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const COMMANDS = {
  async open (req) {
    if (pages.has(req.page)) throw new Error(`page ${req.page} is already open`)
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } })
    context.setDefaultTimeout((req.timeout ?? 10) * 1000)
    const page = await context.newPage()
    const item = { context, page, console: [], errors: [] }
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') {
        item.console.push(`${msg.type()}: ${msg.text()}`)
      }
    })
    page.on('pageerror', (err) => item.errors.push(String(err && err.stack ? err.stack : err)))
    // confirm() dialogs (hx-confirm) are dismissed, like Playwright's default, unless the
    // test said `accept_dialogs`.
    page.on('dialog', (dialog) => (item.acceptDialogs ? dialog.accept() : dialog.dismiss()).catch(() => {}))
    pages.set(req.page, item)
    return {}
  },
  async goto (req) {
    const { page } = entry(req.page)
    const response = await page.goto(req.url, { waitUntil: 'load' })
    return { status: response ? response.status() : null, url: page.url() }
  },
  async accept_dialogs (req) {
    entry(req.page).acceptDialogs = req.accept !== false
    return {}
  },
  // Cut or restore this page's network (its whole browser context, service worker included).
  async set_offline (req) {
    await entry(req.page).context.setOffline(Boolean(req.offline))
    return {}
  },
  async reload (req) {
    const response = await entry(req.page).page.reload({ waitUntil: 'load' })
    return { status: response ? response.status() : null }
  },
  async url (req) {
    return { url: entry(req.page).page.url() }
  },
  async wait_url (req) {
    const { page } = entry(req.page)
    const pattern = new RegExp(req.pattern)
    await page.waitForURL((url) => pattern.test(url.href), {
      timeout: (req.timeout ?? 10) * 1000, waitUntil: 'load',
    })
    return { url: page.url() }
  },
  async fill (req) {
    await entry(req.page).page.fill(req.selector, req.value)
    return {}
  },
  async set_files (req) {
    await entry(req.page).page.setInputFiles(req.selector, req.paths)
    return {}
  },
  async select (req) {
    await entry(req.page).page.selectOption(req.selector, req.value)
    return {}
  },
  async click (req) {
    await entry(req.page).page.click(req.selector)
    return {}
  },
  async type (req) {
    await entry(req.page).page.keyboard.type(req.text, { delay: req.delay ?? 0 })
    return {}
  },
  async press (req) {
    await entry(req.page).page.keyboard.press(req.key)
    return {}
  },
  async text (req) {
    return { text: await entry(req.page).page.textContent(req.selector) }
  },
  async attr (req) {
    return { value: await entry(req.page).page.getAttribute(req.selector, req.name) }
  },
  async probe (req) {
    return { value: await evaluate(entry(req.page).page, req) }
  },
  // Poll a probe until it matches (equals / contains / truthy); the error carries the last value.
  async wait (req) {
    const { page } = entry(req.page)
    const deadline = Date.now() + (req.timeout ?? 10) * 1000
    let last
    for (;;) {
      try {
        last = await evaluate(page, req)
        if (matches(last, req)) return { value: last }
      } catch (err) {
        // A navigation in progress destroys the execution context; try again.
        last = `<${err.message.split('\n')[0]}>`
      }
      if (Date.now() > deadline) {
        const want = 'equals' in req ? `equal ${JSON.stringify(req.equals)}`
          : 'contains' in req ? `contain ${JSON.stringify(req.contains)}` : 'be truthy'
        throw new Error(`${req.probe || 'fn'} did not ${want} within ${req.timeout ?? 10} s; ` +
          `last value ${JSON.stringify(last)}`)
      }
      await sleep(req.interval ?? 50)
    }
  },
  // Save a PNG of the page (or of one element, `selector`) at `path`.
  async screenshot (req) {
    const { page } = entry(req.page)
    if (req.selector) {
      await page.locator(req.selector).first().screenshot({ path: req.path })
    } else {
      await page.screenshot({ path: req.path, fullPage: Boolean(req.fullPage) })
    }
    return { path: req.path }
  },
  // Hover the pointer over an element (tooltips, hover styles).
  async hover (req) {
    await entry(req.page).page.hover(req.selector)
    return {}
  },
  // Low-level mouse input at page coordinates: {action: 'move'|'down'|'up', x, y, steps?}
  // (down/up move there first). Lets a test interleave two people's drags.
  async mouse (req) {
    const { mouse } = entry(req.page).page
    if (req.x !== undefined && req.y !== undefined) {
      await mouse.move(req.x, req.y, { steps: req.steps ?? 1 })
    }
    if (req.action === 'down') await mouse.down({ button: req.button ?? 'left' })
    else if (req.action === 'up') await mouse.up({ button: req.button ?? 'left' })
    else if (req.action !== 'move') throw new Error(`unknown mouse action ${JSON.stringify(req.action)}`)
    return {}
  },
  async diagnostics (req) {
    const item = entry(req.page)
    return { console: item.console, errors: item.errors }
  },
  async close_page (req) {
    const item = pages.get(req.page)
    if (item) {
      pages.delete(req.page)
      await item.context.close()
    }
    return {}
  },
  async quit () {
    for (const [name, item] of pages) {
      pages.delete(name)
      try { await item.context.close() } catch {}
    }
    await browser.close()
    return {}
  },
}

const lines = createInterface({ input: process.stdin })
let chain = Promise.resolve()

lines.on('line', (line) => {
  if (!line.trim()) return
  chain = chain.then(async () => {
    let req
    try {
      req = JSON.parse(line)
      const handler = COMMANDS[req.cmd]
      if (!handler) throw new Error(`unknown command ${JSON.stringify(req.cmd)}`)
      const result = await handler(req)
      send({ id: req.id, ok: true, ...result })
      if (req.cmd === 'quit') process.exit(0)
    } catch (err) {
      send({ id: req && req.id, ok: false, error: String(err && err.message ? err.message : err) })
    }
  })
})
lines.on('close', () => { chain.then(() => shutdown(0)) })

send({ event: 'ready', version: browser.version() })
