// Offline editing: the document's content is kept in this browser (IndexedDB through
// y-indexeddb), and a service worker (/sw.js, frontend/static/frontend/sw.js) keeps the
// page and its scripts, so a document opened before opens and edits offline, even after a
// reload, and merges through the CRDT when the connection returns (docs/editor.md).
import { IndexeddbPersistence } from 'y-indexeddb'

export const LOCAL_DB_PREFIX = 'collab-doc-'

// Refusals after which this browser must not keep the content: access revoked, deleted.
const FORGET_CODES = new Set([4403, 4404])

/** Keep `ydoc` in IndexedDB; forget it when the server says access is gone. */
export function keepOffline (documentId, ydoc, provider) {
  if (typeof indexedDB === 'undefined') return null
  let persistence
  try {
    persistence = new IndexeddbPersistence(LOCAL_DB_PREFIX + documentId, ydoc)
  } catch {
    return null
  }
  provider.on('connection-close', (event) => {
    if (event && FORGET_CODES.has(event.code)) persistence.clearData().catch(() => {})
  })
  return persistence
}

/** Register the service worker and ask it to keep this page and what it loaded. */
export function registerServiceWorker () {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return
  const urls = [
    window.location.pathname,
    ...Array.from(document.querySelectorAll('script[src]'), (node) => node.src),
    ...Array.from(document.querySelectorAll('link[rel=stylesheet]'), (node) => node.href),
  ]
  navigator.serviceWorker.register('/sw.js', { scope: '/' })
    .then(() => navigator.serviceWorker.ready)
    .then((registration) => {
      if (registration.active) registration.active.postMessage({ type: 'keep', urls })
    })
    .catch(() => {})
}
