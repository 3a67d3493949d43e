// What the text editor and the whiteboard share about their document socket: where it is,
// and sending only this page's own awareness state.

export function defaultWsUrl () {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${window.location.host}/ws/documents`
}

// y-websocket sends every awareness change it applies, other people's states included, back
// to the server. The server relays everyone's state itself; echoes only cost traffic and
// could keep a person who left on the presence bars. So a page sends only its own state.
export function sendOnlyMyAwareness (provider) {
  const { awareness } = provider
  const original = provider._awarenessUpdateHandler
  if (typeof original !== 'function') return
  const own = (ids) => ids.filter((id) => id === awareness.clientID)
  const filtered = ({ added, updated, removed }, origin) => {
    const changes = { added: own(added), updated: own(updated), removed: own(removed) }
    if (changes.added.length + changes.updated.length + changes.removed.length > 0) {
      original(changes, origin)
    }
  }
  awareness.off('update', original)
  awareness.on('update', filtered)
  // destroy() unregisters this property's handler.
  provider._awarenessUpdateHandler = filtered
}
