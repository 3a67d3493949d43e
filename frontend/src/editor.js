// Minimal collaborative editor for /documents/<uuid>/.
//
// Contract with the server template:
//   <div id="editor" data-document-id="<uuid>" data-ws-url="ws://host/ws/documents"
//        data-user-name="Ann" data-user-color="#e6194b" data-can-edit="true|false"></div>
//   <span id="editor-status"></span>
// The socket connects to `${wsUrl}/${documentId}` (session cookie auth, no query params) and
// speaks the standard y-websocket v1 protocol. Built by frontend/build.mjs into
// frontend/static/frontend/editor.js.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { Editor } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'

// Close codes the server uses after accepting a socket to refuse it for good.
// Close codes after which reconnecting cannot help (docs/protocol.md).
const REFUSED = { 4401: 'not signed in', 4403: 'no access', 4404: 'document deleted' }
// The server closes with this when this user's role changed: reload to get the new role.
const ROLE_CHANGED = 4100

// Minimal caret styling (the caret extension only sets inline colours); low specificity so
// site.css can override it.
const CARET_CSS = `
:where(.collaboration-carets__caret){position:relative;margin-left:-1px;margin-right:-1px;
border-left:1px solid;border-right:1px solid;word-break:normal;pointer-events:none}
:where(.collaboration-carets__label){position:absolute;top:-1.4em;left:-1px;font-size:12px;
font-style:normal;font-weight:600;line-height:normal;white-space:nowrap;color:#fff;
padding:0 .3em;border-radius:3px 3px 3px 0;user-select:none}
`

function defaultWsUrl () {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${window.location.host}/ws/documents`
}

function start () {
  const el = document.getElementById('editor')
  if (!el) return null
  const statusEl = document.getElementById('editor-status')
  const ds = el.dataset
  const documentId = ds.documentId
  const wsUrl = (ds.wsUrl || '').trim() || defaultWsUrl()
  const canEdit = ds.canEdit === 'true'
  const user = {
    name: ds.userName || 'Anonymous',
    color: ds.userColor || '#888888'
  }

  if (!document.getElementById('collab-caret-css')) {
    const style = document.createElement('style')
    style.id = 'collab-caret-css'
    style.textContent = CARET_CSS
    document.head.appendChild(style)
  }

  // Once the server has refused us, keep that message; later status events do not replace it.
  let terminal = null
  const setStatus = (state) => {
    if (terminal !== null) state = terminal
    const text = canEdit ? state : `${state} · read-only`
    if (statusEl) {
      statusEl.textContent = text
      statusEl.dataset.state = state
    }
    el.dataset.status = state
  }

  const ydoc = new Y.Doc()
  const provider = new WebsocketProvider(wsUrl, documentId, ydoc)

  provider.on('status', ({ status }) => {
    // 'connected' is followed by 'synced' once the server's sync step 2 arrives.
    setStatus(status === 'connected' && provider.synced ? 'synced' : status)
  })
  provider.on('sync', (isSynced) => {
    if (isSynced) setStatus('synced')
    else if (provider.wsconnected) setStatus('connected')
  })
  provider.on('connection-close', (event) => {
    if (event && event.code === ROLE_CHANGED) {
      // The page was rendered for the old role (editable or not): render it again.
      queueMicrotask(() => { provider.disconnect(); window.location.reload() })
      return
    }
    const reason = event && REFUSED[event.code]
    if (!reason) return
    terminal = reason
    // Whatever is typed now could never reach anyone: stop accepting it.
    if (window.collab && window.collab.editor) window.collab.editor.setEditable(false)
    // Stop reconnecting. Deferred: we are inside the provider's own close handling, and
    // disconnect() would re-enter it while provider.ws still points at the closing socket.
    queueMicrotask(() => {
      provider.disconnect()
      setStatus(reason)
    })
    setStatus(reason)
  })

  const editor = new Editor({
    element: el,
    editable: canEdit,
    extensions: [
      StarterKit.configure({ undoRedo: false }),
      Collaboration.configure({ document: ydoc, field: 'default' }),
      CollaborationCaret.configure({ provider, user })
    ]
  })

  setStatus(provider.wsconnected ? 'connected' : 'connecting')
  const collab = { ydoc, provider, editor, Y }
  window.collab = collab
  return collab
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', start, { once: true })
} else {
  start()
}
