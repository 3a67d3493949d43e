// The whiteboard of /documents/<uuid>/ when the document's kind is "whiteboard".
//
// Contract with the server template (frontend/templates/frontend/board.html):
//   <div id="board" data-document-id="<uuid>" data-ws-url="" data-user-id="7"
//        data-user-name="Ann" data-user-color="#e6194b" data-can-edit="true|false"></div>
//   plus the header bar shared with the text editor (#connection-state, #view-only-badge,
//   #unsent-changes, #presence, #editor-status, #editor-alert) and #board-toolbar.
// Same socket and protocol as the text editor (y-websocket v1 at `${wsUrl}/${documentId}`);
// connection state and presence reuse ../connection.js and ../presence.js. The schema is in
// ./model.js. `window.board` exposes {ydoc, provider, undo, shapes(), ...} for tests.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { trackConnection } from '../connection.js'
import { keepOffline, registerServiceWorker } from '../offline.js'
import { mountPresence } from '../presence.js'
import { createBoard } from './board.js'
import { defaultWsUrl, sendOnlyMyAwareness } from '../socket.js'

const HEX = /^#[0-9a-fA-F]{6}$/

function start () {
  const el = document.getElementById('board')
  if (!el) return null
  const ds = el.dataset
  const wsUrl = (ds.wsUrl || '').trim() || defaultWsUrl()
  const canEdit = ds.canEdit === 'true'
  const user = {
    name: ds.userName || 'Anonymous',
    color: HEX.test(ds.userColor || '') ? ds.userColor : '#888888',
  }
  const userId = /^\d+$/.test(ds.userId || '') ? Number(ds.userId) : (ds.userId || null)

  const ydoc = new Y.Doc()
  const provider = new WebsocketProvider(wsUrl, ds.documentId, ydoc, { connect: false })
  sendOnlyMyAwareness(provider)
  const local = keepOffline(ds.documentId, ydoc, provider)

  const app = createBoard({
    root: el,
    toolbarEl: document.getElementById('board-toolbar'),
    ydoc,
    awareness: provider.awareness,
    user,
    userId,
    canEdit,
  })

  // connection.js drives an "editor" with isEditable/setEditable: the board stands in.
  const editorLike = {
    get isEditable () { return app.editable },
    setEditable (value) { app.setEditable(value) },
  }
  const presenceEl = document.getElementById('presence')
  const presence = presenceEl ? mountPresence(presenceEl, provider.awareness, user) : null
  const connection = trackConnection({
    provider,
    ydoc,
    editor: editorLike,
    root: el,
    canEdit,
    ui: {
      status: document.getElementById('editor-status'),
      badge: document.getElementById('connection-state'),
      viewOnly: document.getElementById('view-only-badge'),
      pending: document.getElementById('unsent-changes'),
      alert: document.getElementById('editor-alert'),
    },
    local,
  })

  provider.connect()
  registerServiceWorker()

  const board = {
    ydoc,
    provider,
    Y,
    connection,
    presence,
    local,
    app,
    get undo () { return app.undoManager },
    shapes: () => app.plainShapes(),
    cursorLabels: () => app.cursorLabels(),
  }
  window.board = board
  return board
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', start, { once: true })
} else {
  start()
}
