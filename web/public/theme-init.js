// Applies the saved theme before first paint so the page never flashes (a
// file rather than an inline script, so a strict Content-Security-Policy holds).
try {
  var t = localStorage.getItem('vigilo.theme');
  if (t === 'light' || t === 'dark') document.documentElement.dataset.theme = t;
} catch (e) {
  // no storage
}
