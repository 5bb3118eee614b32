// The tracing panel's webview script (bundled for the browser into dist/media/panel.js).
const root = document.getElementById('root');
if (root) root.textContent = 'No trace session yet.';
