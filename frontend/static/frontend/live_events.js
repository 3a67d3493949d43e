// The per-user event socket (/ws/me), shared by the dashboard and the document pages:
// window.collabLiveEvents(onEvent, onState) connects, reconnects with backoff, keeps the
// socket alive with pings, and calls onEvent(event) for each JSON event and onState with
// 'connected' / 'disconnected'. A 4401 close (signed out) stops it.
(function () {
  'use strict'
  window.collabLiveEvents = function (onEvent, onState) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
    const url = scheme + '//' + location.host + '/ws/me'
    let delay = 500
    let pingTimer = null
    function connect () {
      const socket = new WebSocket(url)
      socket.addEventListener('open', () => {
        delay = 500
        onState('connected')
        pingTimer = setInterval(() => socket.readyState === 1 && socket.send('ping'), 25000)
      })
      socket.addEventListener('message', (message) => {
        if (message.data === 'pong') return
        let event
        try { event = JSON.parse(message.data) } catch (e) { return }
        onEvent(event)
      })
      socket.addEventListener('close', (event) => {
        clearInterval(pingTimer)
        onState('disconnected')
        if (event.code === 4401) return // signed out: the next page load will say so
        setTimeout(connect, delay)
        delay = Math.min(delay * 2, 10000)
      })
    }
    connect()
  }
})()
