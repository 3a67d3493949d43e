// Connection state, shown to people: the badge (connecting…, connected, reconnecting…,
// offline, signed out, disconnected), the "view only" badge, and the message when the server
// closed the socket for good. Close codes (docs/protocol.md, docs/editor.md):
//   4100  my role changed            -> reload the page (it renders for the new role)
//   4401  not signed in              -> keep editing locally; "sign in again" + Reconnect
//   4403  no access / access revoked -> read-only, "You no longer have access..."
//   4404  document deleted           -> read-only, "This document was deleted"
//   4413  a frame too big            -> read-only, "too large" + the reason, a button that
//                                       forgets this browser's copy and reloads
//   4429  too many updates/sockets   -> read-only, "too many" + the reason, a Reload button
//                                       (the reload sends what the server lacks)
//   4400  a malformed/refused change -> as 4413
//   other 4400-4499                  -> read-only, the server's reason, a Reload button
//   4008  idle for too long          -> y-websocket reconnects by itself (badge: reconnecting…)
// y-websocket 3.1 itself stops reconnecting after any 44xx code; 4100 and the rest retry.
// The reason comes from the close frame or, since Daphne drops close reasons, from the
// permission-denied message the server sends just before a 44xx close.
import { messageAuth } from 'y-websocket'
import { readAuthMessage } from 'y-protocols/auth'

export const ROLE_CHANGED = 4100
export const NOT_SIGNED_IN = 4401
export const FORBIDDEN = 4403
export const DELETED = 4404

// Socket limits (docs/security.md): said in words, the server's reason follows.
const LIMIT_TEXT = {
  4413: 'The server refused a change that is too large',
  4429: 'The server refused: too many changes or connections at once',
}

// Refusals of what a change contains (too big, malformed): sending it again cannot help.
const CONTENT_REFUSALS = new Set([4400, 4413])

/** Close and delete this browser's copy (y-indexeddb), resolving once it is gone. */
async function forgetLocalCopy (local) {
  try {
    await local.destroy()
    await new Promise((resolve) => {
      // y-indexeddb's clearData() does not wait for the deletion, and a reload right
      // after it could open the old copy again.
      const request = indexedDB.deleteDatabase(local.name)
      request.onsuccess = request.onerror = request.onblocked = resolve
    })
  } catch {}
}

// What #editor-status said before the badges existed (kept for scripts and older tests).
const LEGACY_REASON = { 4401: 'not signed in', 4403: 'no access', 4404: 'document deleted' }

export const BADGE_TEXT = {
  connecting: 'connecting…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  offline: 'offline',
  'signed-out': 'signed out',
  disconnected: 'disconnected',
}

function el (tag, attrs = {}, text = null) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value)
  if (text !== null) node.textContent = text
  return node
}

/**
 * Wire the provider's events to the page. `ui` holds the elements (any may be null):
 * status (#editor-status), badge, viewOnly, pending, alert. Returns an object whose
 * `state` is the badge's state and `terminal` the refusal, if any.
 */
export function trackConnection ({
  provider, ydoc, editor, root, canEdit, ui, onEditableChange, local = null,
}) {
  const loginUrl = `/accounts/login/?next=${encodeURIComponent(window.location.pathname + window.location.search)}`
  const model = {
    everSynced: false,
    // {code, kind: 'expired'|'revoked'|'deleted'|'refused', reason}
    terminal: null,
    // Local changes made while not synced: still only in this page.
    pending: false,
    state: 'connecting',
    // The reason in the server's last permission-denied message on this socket.
    deniedReason: '',
  }

  // Keep the reason for the close that follows (instead of y-websocket's console warning).
  provider.messageHandlers[messageAuth] = (_encoder, decoder) => {
    readAuthMessage(decoder, ydoc, (_doc, reason) => { model.deniedReason = reason })
  }

  function badgeState () {
    const { terminal } = model
    if (terminal) return terminal.kind === 'expired' ? 'signed-out' : 'disconnected'
    if (provider.synced) return 'connected'
    if (typeof navigator !== 'undefined' && navigator.onLine === false) return 'offline'
    return model.everSynced ? 'reconnecting' : 'connecting'
  }

  function legacyStatus () {
    const { terminal } = model
    if (terminal) return LEGACY_REASON[terminal.code] || terminal.reason || 'disconnected'
    if (provider.synced) return 'synced'
    if (provider.wsconnected) return 'connected'
    if (provider.wsconnecting) return 'connecting'
    return 'disconnected'
  }

  function render () {
    const state = badgeState()
    model.state = state
    if (ui.badge) {
      ui.badge.textContent = BADGE_TEXT[state]
      ui.badge.dataset.state = state
      ui.badge.title = {
        connecting: 'Connecting to the server…',
        connected: 'Changes are saved and shared as you type.',
        reconnecting: 'The connection dropped. You can keep editing; your changes will be sent when it is back.',
        offline: 'You are offline. You can keep editing; your changes will be sent when you are back online.',
        'signed-out': 'Your session expired. Sign in again to send your changes.',
        disconnected: 'Disconnected from this document.',
      }[state]
    }
    if (ui.pending) {
      const show = model.pending && !provider.synced &&
        (!model.terminal || model.terminal.kind === 'expired')
      ui.pending.hidden = !show
      ui.pending.textContent = show
        ? (local ? 'Unsent changes are kept in this browser' : 'Unsent changes are kept in this page')
        : ''
    }
    if (ui.viewOnly) ui.viewOnly.hidden = editor.isEditable
    const legacy = legacyStatus()
    if (ui.status) {
      ui.status.textContent = canEdit ? legacy : `${legacy} · read-only`
      ui.status.dataset.state = legacy
    }
    if (root) {
      root.dataset.status = legacy
      root.dataset.connection = state
    }
  }

  function showAlert (kind, parts) {
    if (!ui.alert) return
    ui.alert.replaceChildren(...parts)
    ui.alert.dataset.kind = kind
    ui.alert.hidden = false
  }
  function hideAlert () {
    if (!ui.alert) return
    ui.alert.replaceChildren()
    delete ui.alert.dataset.kind
    ui.alert.hidden = true
  }

  function makeReadOnly () {
    if (editor.isEditable) {
      editor.setEditable(false)
      onEditableChange?.()
    }
  }

  function reconnect () {
    model.terminal = null
    hideAlert()
    provider.connect()
    render()
  }

  function refuse (event) {
    const code = event.code
    const reason = event.reason || model.deniedReason || LEGACY_REASON[code] || ''
    if (code === NOT_SIGNED_IN) {
      // My edits stay in the Y.Doc (and the editor stays editable): they go out once I
      // sign in again and reconnect; Yjs sends whatever the server lacks.
      model.terminal = { code, kind: 'expired', reason }
      const link = el('a', { href: loginUrl, target: '_blank', rel: 'noopener' }, 'Sign in again')
      const button = el('button', { type: 'button', class: 'editor-alert__action', 'data-action': 'reconnect' }, 'Reconnect')
      button.addEventListener('click', reconnect)
      showAlert('expired', [
        el('strong', {}, 'Your session expired — sign in again.'),
        document.createTextNode(' Your edits are kept in this page. '),
        link,
        document.createTextNode(' (opens a new tab), then '),
        button,
        document.createTextNode('.'),
      ])
      return
    }
    const back = () => el('a', { href: '/' }, 'Back to your documents')
    if (code === FORBIDDEN) {
      model.terminal = { code, kind: 'revoked', reason }
      makeReadOnly()
      showAlert('revoked', [
        el('strong', {}, 'You no longer have access to this document.'),
        document.createTextNode(' '),
        back(),
      ])
    } else if (code === DELETED) {
      model.terminal = { code, kind: 'deleted', reason }
      makeReadOnly()
      showAlert('deleted', [
        el('strong', {}, 'This document was deleted.'),
        document.createTextNode(' '),
        back(),
      ])
    } else {
      // 4400 and any other 44xx: the server refused what this page sent. After 4429 a
      // reload sends this browser's copy again, as one sync step 2, and it gets in. After
      // a refused change (4413, 4400) the copy still holds it, so every reload would send
      // it and be refused again: that reload first forgets the copy and starts over from
      // the server's. The page keeps showing the text until then, so it can be copied.
      model.terminal = { code, kind: 'refused', reason }
      makeReadOnly()
      const discard = Boolean(local) && CONTENT_REFUSALS.has(code)
      const button = el(
        'button',
        { type: 'button', class: 'editor-alert__action', 'data-action': 'reload' },
        discard ? 'Discard unsent changes and reload' : 'Reload',
      )
      button.addEventListener('click', async () => {
        button.disabled = true
        if (discard) await forgetLocalCopy(local)
        window.location.reload()
      })
      showAlert('refused', [
        el('strong', {}, LIMIT_TEXT[code] || 'The server closed the connection'),
        document.createTextNode(reason ? ` (${reason}). ` : '. '),
        ...(discard
          ? [document.createTextNode('Copy anything you need from the page first. ')]
          : []),
        button,
      ])
    }
    // Stop for good (y-websocket already stopped retrying; this also leaves the
    // BroadcastChannel). Deferred: we are inside the provider's own close handling.
    queueMicrotask(() => {
      provider.disconnect()
      render()
    })
  }

  provider.on('status', ({ status }) => {
    // A new socket: an earlier socket's refusal says nothing about it.
    if (status === 'connecting') model.deniedReason = ''
    render()
  })
  provider.on('sync', (isSynced) => {
    if (isSynced) {
      model.everSynced = true
      model.pending = false
      if (model.terminal && model.terminal.kind === 'expired') {
        model.terminal = null
        hideAlert()
      }
    }
    render()
  })
  provider.on('connection-close', (event) => {
    if (!event) return render()
    if (event.code === ROLE_CHANGED) {
      // The page was rendered for the old role (editable or not): render it again.
      queueMicrotask(() => {
        provider.disconnect()
        window.removeEventListener('beforeunload', beforeUnload)
        window.location.reload()
      })
      return
    }
    if (event.code >= 4400 && event.code < 4500) refuse(event)
    render()
  })
  ydoc.on('update', (_update, origin) => {
    // Content read back from this browser's copy (offline.js) is not a new change.
    if (origin === provider || (local && origin === local) || provider.synced) return
    if (!model.pending) {
      model.pending = true
      render()
    }
  })

  const onNetwork = () => {
    // Back online: try at once rather than after the provider's backoff.
    if (navigator.onLine && !model.terminal && provider.shouldConnect && !provider.wsconnected) {
      provider.connect()
    }
    render()
  }
  window.addEventListener('online', onNetwork)
  window.addEventListener('offline', onNetwork)

  // Leaving with changes that exist only in this page loses them: ask first.
  function beforeUnload (event) {
    const recoverable = !model.terminal || model.terminal.kind === 'expired'
    // With a local copy (IndexedDB) the changes survive the reload and are sent later.
    if (model.pending && !provider.synced && recoverable && !local) {
      event.preventDefault()
      event.returnValue = ''
    }
  }
  window.addEventListener('beforeunload', beforeUnload)

  render()
  return {
    get state () { return model.state },
    get terminal () { return model.terminal },
    get pending () { return model.pending },
    reconnect,
    render,
  }
}
