// The collaborative rich-text editor of /documents/<uuid>/ (docs/editor.md).
//
// Contract with the server template (frontend/templates/frontend/document.html):
//   <div id="editor" data-document-id="<uuid>" data-ws-url="ws://host/ws/documents"
//        data-user-name="Ann" data-user-color="#e6194b" data-can-edit="true|false"></div>
//   optional, created before #editor when missing:
//   #editor-toolbar, #editor-alert, #presence, #connection-state, #view-only-badge,
//   #unsent-changes, and #editor-status (machine-readable: synced/connected/... [· read-only]).
// The socket connects to `${wsUrl}/${documentId}` (session cookie auth, no query params) and
// speaks the standard y-websocket v1 protocol. Built by frontend/build.mjs into
// frontend/static/frontend/editor.js. `window.collab` exposes {ydoc, provider, editor, Y,
// connection, undoManager} for scripts and tests.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { Editor, Extension } from '@tiptap/core'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { yUndoPluginKey } from '@tiptap/y-tiptap'
import { contentExtensions, isAllowedHref } from './extensions.js'
import { mountToolbar } from './toolbar.js'
import { defaultWsUrl, sendOnlyMyAwareness } from './socket.js'
import { imageDropAndPaste, insertImages } from './images.js'
import { mountPresence } from './presence.js'
import { trackConnection } from './connection.js'
import { keepOffline, registerServiceWorker } from './offline.js'

// Minimal caret styling (the caret extension only sets inline colours); low specificity so
// site.css can override it.
const CARET_CSS = `
:where(.collaboration-carets__caret){position:relative;margin-left:-1px;margin-right:-1px;
border-left:1px solid;border-right:1px solid;word-break:normal;pointer-events:none}
:where(.collaboration-carets__label){position:absolute;top:-1.4em;left:-1px;font-size:12px;
font-style:normal;font-weight:600;line-height:normal;white-space:nowrap;color:#fff;
padding:0 .3em;border-radius:3px 3px 3px 0;user-select:none}
`
const HEX = /^#[0-9a-fA-F]{6}$/

// The page's element with this id, or a new one inserted before `anchor`.
function ensure (id, tag, anchor, setup) {
  let node = document.getElementById(id)
  if (!node) {
    node = document.createElement(tag)
    node.id = id
    setup?.(node)
    anchor.parentNode.insertBefore(node, anchor)
  }
  return node
}

// Other people's selections: their colour at ~30% so the text stays readable.
function selectionRender (user) {
  const color = HEX.test(user.color) ? user.color : '#888888'
  return { style: `background-color: ${color}4d`, class: 'ProseMirror-yjs-selection' }
}

function start () {
  const el = document.getElementById('editor')
  if (!el) return null
  const ds = el.dataset
  const documentId = ds.documentId
  const wsUrl = (ds.wsUrl || '').trim() || defaultWsUrl()
  const canEdit = ds.canEdit === 'true'
  const user = {
    name: ds.userName || 'Anonymous',
    color: HEX.test(ds.userColor || '') ? ds.userColor : '#888888',
  }

  if (!document.getElementById('collab-caret-css')) {
    const style = document.createElement('style')
    style.id = 'collab-caret-css'
    style.textContent = CARET_CSS
    document.head.appendChild(style)
  }

  const bar = ensure('editor-bar', 'div', el, (node) => { node.className = 'editor-bar' })
  const ui = {
    status: ensure('editor-status', 'span', bar, (node) => { node.hidden = true }),
    badge: document.getElementById('connection-state') || (() => {
      const node = document.createElement('span')
      node.id = 'connection-state'
      node.className = 'badge badge--connection'
      bar.append(node)
      return node
    })(),
    viewOnly: document.getElementById('view-only-badge') || (() => {
      const node = document.createElement('span')
      node.id = 'view-only-badge'
      node.className = 'badge badge--view-only'
      node.textContent = 'view only'
      node.hidden = canEdit
      bar.append(node)
      return node
    })(),
    pending: document.getElementById('unsent-changes'),
    alert: ensure('editor-alert', 'div', el, (node) => {
      node.className = 'editor-alert'
      node.setAttribute('role', 'alert')
      node.hidden = true
    }),
  }
  ui.badge.setAttribute('aria-live', 'polite')
  const presenceEl = document.getElementById('presence') || (() => {
    const node = document.createElement('div')
    node.id = 'presence'
    bar.append(node)
    return node
  })()
  const toolbarEl = ensure('editor-toolbar', 'div', el)

  const ydoc = new Y.Doc()
  // Connect once every listener is in place (below).
  const provider = new WebsocketProvider(wsUrl, documentId, ydoc, { connect: false })
  sendOnlyMyAwareness(provider)
  const local = keepOffline(documentId, ydoc, provider)

  let toolbar = null
  const Shortcuts = Extension.create({
    name: 'pageShortcuts',
    addKeyboardShortcuts () {
      return { 'Mod-k': () => (toolbar ? toolbar.openLinkForm() : false) }
    },
  })

  const editor = new Editor({
    element: el,
    editable: canEdit,
    extensions: [
      ...contentExtensions(),
      Collaboration.configure({ document: ydoc, field: 'default' }),
      CollaborationCaret.configure({ provider, user, selectionRender }),
      Shortcuts,
    ],
    editorProps: {
      attributes: { 'aria-label': 'Document text', 'aria-multiline': 'true', role: 'textbox' },
      ...imageDropAndPaste(() => editor, documentId, showImageError),
    },
  })

  // The toolbar's image button opens a file picker; the files are uploaded, then inserted.
  const picker = document.createElement('input')
  picker.type = 'file'
  picker.accept = 'image/png,image/jpeg,image/gif,image/webp'
  picker.multiple = true
  picker.hidden = true
  picker.id = 'image-picker'
  el.parentNode.insertBefore(picker, el)
  picker.addEventListener('change', () => {
    insertImages(editor, documentId, Array.from(picker.files), showImageError)
    picker.value = ''
  })
  function showImageError (message) {
    const alert = document.getElementById('editor-alert')
    if (!alert) return
    alert.textContent = 'Image not added: ' + message
    alert.hidden = false
    setTimeout(() => { if (alert.textContent.startsWith('Image not added')) alert.hidden = true }, 6000)
  }

  toolbar = mountToolbar(toolbarEl, editor, { onImage: () => picker.click() })
  const presence = mountPresence(presenceEl, provider.awareness, user)
  const connection = trackConnection({
    provider,
    ydoc,
    editor,
    root: el,
    canEdit,
    ui,
    onEditableChange: () => toolbar.refresh(),
    local,
  })

  // Links: a click places the caret (editing); Ctrl/Cmd+click opens the link in a new tab.
  el.addEventListener('click', (event) => {
    if (!(event.ctrlKey || event.metaKey) || !editor.isEditable) return
    const link = event.target.closest && event.target.closest('a[href]')
    if (!link || !el.contains(link)) return
    const href = link.getAttribute('href')
    if (!isAllowedHref(href)) return
    event.preventDefault()
    window.open(link.href, '_blank', 'noopener,noreferrer')
  })

  provider.connect()
  registerServiceWorker()

  const collab = {
    ydoc,
    provider,
    editor,
    Y,
    connection,
    presence,
    toolbar,
    local,
    get undoManager () { return yUndoPluginKey.getState(editor.state)?.undoManager ?? null },
  }
  window.collab = collab
  return collab
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', start, { once: true })
} else {
  start()
}
