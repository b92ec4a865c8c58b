/* The 3D Secure test challenge: posts Complete/Fail to the emulator, then tells the parent. */
(function () {
  'use strict';
  var query = new URLSearchParams(window.location.search);
  var KEY = query.get('key');
  var PARENT = query.get('parentOrigin');
  var INTENT = query.get('payment_intent');
  var SECRET = query.get('client_secret');
  var status = document.getElementById('status');
  var buttons = [document.getElementById('complete'), document.getElementById('fail')];

  function done(result) {
    window.parent.postMessage({ __stripeEmulator: true, action: '3ds-done', result: result }, PARENT);
  }

  function choose(result) {
    buttons.forEach(function (b) { b.disabled = true; });
    var body = new URLSearchParams({ client_secret: SECRET, result: result });
    fetch('/v1/three_d_secure/' + encodeURIComponent(INTENT) + '/challenge', {
      method: 'POST',
      headers: { 'Authorization': 'Bearer ' + KEY, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
      credentials: 'omit'
    }).then(function () { done(result); }, function () {
      status.textContent = 'Could not reach the emulator.';
      done('error');
    });
  }

  buttons[0].addEventListener('click', function () { choose('complete'); });
  buttons[1].addEventListener('click', function () { choose('fail'); });
}());
