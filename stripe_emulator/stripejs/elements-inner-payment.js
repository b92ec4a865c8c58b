/* The Payment Element's inside, on the emulator origin. It validates the card (or the US bank account, when
 * the page's paymentMethodTypes offer it), posts it to /v1/confirmation_tokens with the publishable key and
 * hands the parent page only the resulting token. */
(function () {
  'use strict';
  var query = new URLSearchParams(window.location.search);
  var KEY = query.get('key');
  var PARENT = query.get('parentOrigin');
  var form = document.getElementById('card-form');
  var FIELDS = {
    card: ['number', 'expiry', 'cvc', 'postalCode'],
    us_bank_account: ['accountName', 'routingNumber', 'accountNumber']
  };
  var ALL = FIELDS.card.concat(FIELDS.us_bank_account);
  var inputs = {};
  ALL.forEach(function (name) { inputs[name] = document.getElementById(name); });
  var METHODS = (query.get('methods') || 'card').split(',').filter(function (m) { return FIELDS[m]; });
  var method = 'card';
  var ORDER = FIELDS.card;
  var touched = {};

  function digits(value) { return String(value || '').replace(/\D/g, ''); }
  function isAmex(number) { return /^3[47]/.test(number); }

  function luhn(number) {
    var sum = 0;
    for (var i = 0; i < number.length; i++) {
      var d = parseInt(number.charAt(number.length - 1 - i), 10);
      if (i % 2 === 1) { d *= 2; if (d > 9) { d -= 9; } }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function err(code, message) { return { type: 'validation_error', code: code, message: message }; }

  var checks = {
    number: function () {
      var n = digits(inputs.number.value);
      var want = isAmex(n) ? 15 : 16;
      if (n.length < want) { return err('incomplete_number', 'Your card number is incomplete.'); }
      if (!luhn(n)) { return err('invalid_number', 'Your card number is invalid.'); }
      return null;
    },
    expiry: function () {
      var e = digits(inputs.expiry.value);
      if (e.length < 4) { return err('incomplete_expiry', "Your card's expiration date is incomplete."); }
      var month = parseInt(e.slice(0, 2), 10);
      var year = 2000 + parseInt(e.slice(2, 4), 10);
      var now = new Date();
      if (month < 1 || month > 12) { return err('invalid_expiry_month', "Your card's expiration date is invalid."); }
      if (year < now.getFullYear()) { return err('invalid_expiry_year_past', "Your card's expiration year is in the past."); }
      if (year === now.getFullYear() && month < now.getMonth() + 1) {
        return err('invalid_expiry_month_past', "Your card's expiration date is in the past.");
      }
      if (year > now.getFullYear() + 50) { return err('invalid_expiry_year', "Your card's expiration year is invalid."); }
      return null;
    },
    cvc: function () {
      var want = isAmex(digits(inputs.number.value)) ? 4 : 3;
      if (digits(inputs.cvc.value).length < want) { return err('incomplete_cvc', "Your card's security code is incomplete."); }
      return null;
    },
    postalCode: function () {
      var p = inputs.postalCode.value.trim();
      if (!p || (/^\d+$/.test(p) && p.length < 5)) { return err('incomplete_zip', 'Your postal code is incomplete.'); }
      return null;
    },
    accountName: function () {
      return inputs.accountName.value.trim() ? null : err('incomplete_name', 'Your full name is incomplete.');
    },
    routingNumber: function () {
      var r = digits(inputs.routingNumber.value);
      if (r.length < 9) { return err('incomplete_routing_number', 'Your routing number is incomplete.'); }
      var sum = 0;
      for (var i = 0; i < 9; i++) { sum += parseInt(r.charAt(i), 10) * [3, 7, 1][i % 3]; }
      return sum % 10 === 0 ? null : err('invalid_routing_number', 'Your routing number is invalid.');
    },
    accountNumber: function () {
      var a = digits(inputs.accountNumber.value);
      return a.length >= 4 ? null : err('incomplete_account_number', 'Your account number is incomplete.');
    }
  };

  // The method tabs, shown when the page offers more than cards: each shows its own fields.
  function choose(chosen) {
    method = chosen;
    ORDER = FIELDS[method];
    document.getElementById('card-fields').hidden = method !== 'card';
    document.getElementById('bank-fields').hidden = method !== 'us_bank_account';
    refresh(false);
  }
  if (METHODS.length > 1) {
    document.getElementById('card-tab').hidden = true;
    document.getElementById('methods').hidden = false;
    Array.prototype.forEach.call(document.querySelectorAll('input[name="method"]'), function (radio) {
      radio.closest('label').hidden = METHODS.indexOf(radio.value) < 0;
      radio.addEventListener('change', function () { if (radio.checked) { choose(radio.value); } });
    });
  }

  function post(msg) {
    msg.__stripeEmulator = true;
    window.parent.postMessage(msg, PARENT);
  }

  function show(name, error) {
    if (ORDER.indexOf(name) < 0) { return; }
    var box = document.getElementById(name + '-error');
    box.textContent = error ? error.message : '';
    inputs[name].classList.toggle('invalid', !!error);
    inputs[name].setAttribute('aria-invalid', error ? 'true' : 'false');
  }

  function errors() {
    var result = {};
    ORDER.forEach(function (name) { result[name] = checks[name](); });
    return result;
  }

  function firstError(all, onlyShown) {
    for (var i = 0; i < ORDER.length; i++) {
      var name = ORDER[i];
      if (all[name] && (!onlyShown || touched[name])) { return all[name]; }
    }
    return null;
  }

  function isEmpty() {
    return ORDER.every(function (name) { return !inputs[name].value.trim(); });
  }

  function resize() { post({ action: 'resize', height: Math.ceil(document.documentElement.scrollHeight) + 2 }); }

  function refresh(showAll) {
    var all = errors();
    ORDER.forEach(function (name) {
      var e = all[name];
      // A full-length number failing Luhn is shown at once, as Stripe does.
      var immediate = name === 'number' && e && e.code === 'invalid_number';
      if (showAll || touched[name] || immediate) {
        if (immediate) { touched.number = true; }
        show(name, e);
      } else {
        show(name, null);
      }
    });
    var shown = firstError(all, !showAll);
    var change = { action: 'change', complete: !firstError(all, false), empty: isEmpty() };
    if (shown) { change.error = shown; }
    post(change);
    resize();
    return all;
  }

  function formatNumber() {
    var n = digits(inputs.number.value).slice(0, 19);
    var groups = isAmex(n) ? [4, 6, 5] : [4, 4, 4, 4, 3];
    var out = [];
    var pos = 0;
    for (var i = 0; i < groups.length && pos < n.length; i++) {
      out.push(n.slice(pos, pos + groups[i]));
      pos += groups[i];
    }
    inputs.number.value = out.join(' ');
  }

  function formatExpiry(event) {
    var e = digits(inputs.expiry.value).slice(0, 4);
    if (e.length === 1 && parseInt(e, 10) > 1) { e = '0' + e; }
    var deleting = event && event.inputType && event.inputType.indexOf('delete') === 0;
    inputs.expiry.value = e.length > 2 || (e.length === 2 && !deleting) ? e.slice(0, 2) + ' / ' + e.slice(2) : e;
  }

  inputs.number.addEventListener('input', function () { formatNumber(); refresh(false); });
  inputs.expiry.addEventListener('input', function (ev) { formatExpiry(ev); refresh(false); });
  inputs.cvc.addEventListener('input', function () { inputs.cvc.value = digits(inputs.cvc.value).slice(0, 4); refresh(false); });
  inputs.postalCode.addEventListener('input', function () { refresh(false); });
  inputs.routingNumber.addEventListener('input', function () {
    inputs.routingNumber.value = digits(inputs.routingNumber.value).slice(0, 9); refresh(false);
  });
  inputs.accountNumber.addEventListener('input', function () {
    inputs.accountNumber.value = digits(inputs.accountNumber.value).slice(0, 17); refresh(false);
  });
  inputs.accountName.addEventListener('input', function () { refresh(false); });
  ALL.forEach(function (name) {
    inputs[name].addEventListener('blur', function () {
      if (inputs[name].value.trim()) { touched[name] = true; }
      refresh(false);
      post({ action: 'blur' });
    });
    inputs[name].addEventListener('focus', function () { post({ action: 'focus' }); });
  });
  form.addEventListener('submit', function (ev) { ev.preventDefault(); });

  function validate() {
    ORDER.forEach(function (name) { touched[name] = true; });
    var all = refresh(true);
    var first = firstError(all, false);
    if (first) {
      var name = ORDER.filter(function (n) { return all[n]; })[0];
      inputs[name].focus();
      return { error: first };
    }
    return {};
  }

  function encode(prefix, value, out) {
    if (value === null || value === undefined) { return out; }
    if (typeof value === 'object') {
      Object.keys(value).forEach(function (k) { encode(prefix ? prefix + '[' + k + ']' : k, value[k], out); });
    } else {
      out.push(encodeURIComponent(prefix) + '=' + encodeURIComponent(String(value)));
    }
    return out;
  }

  function createToken(payload) {
    var checked = validate();
    if (checked.error) { return Promise.resolve(checked); }
    var params = Object.assign({}, (payload && payload.params) || {});
    var extra = params.payment_method_data || {};
    delete params.payment_method_data;
    var billing = Object.assign({}, extra.billing_details || {});
    if (method === 'us_bank_account') {
      billing.name = inputs.accountName.value.trim();
      params.payment_method_data = {
        type: 'us_bank_account',
        us_bank_account: { routing_number: digits(inputs.routingNumber.value),
                           account_number: digits(inputs.accountNumber.value), account_holder_type: 'individual',
                           account_type: 'checking' },
        billing_details: billing
      };
    } else {
      billing.address = Object.assign({}, billing.address || {}, { postal_code: inputs.postalCode.value.trim() });
      var e = digits(inputs.expiry.value);
      params.payment_method_data = {
        type: 'card',
        card: { number: digits(inputs.number.value), exp_month: e.slice(0, 2), exp_year: '20' + e.slice(2, 4),
                cvc: digits(inputs.cvc.value) },
        billing_details: billing
      };
    }
    return fetch('/v1/confirmation_tokens', {
      method: 'POST',
      headers: { 'Authorization': 'Bearer ' + KEY, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: encode('', params, []).join('&'),
      credentials: 'omit'
    }).then(function (resp) {
      return resp.json().then(function (body) {
        if (!resp.ok || body.error) { return { error: body.error || { type: 'api_error', message: 'Unexpected response.' } }; }
        return { confirmationToken: body };
      }, function () {
        return { error: { type: 'api_error', message: 'Unexpected response from the API (HTTP ' + resp.status + ').' } };
      });
    }, function () {
      return { error: { type: 'api_connection_error',
                        message: 'An error occurred with our connection to Stripe. Request was retried.' } };
    });
  }

  // paymentElement.update({readOnly: true}): the fields keep their values and stay focusable but cannot change.
  function setReadOnly(readOnly) {
    ALL.forEach(function (name) {
      inputs[name].readOnly = readOnly;
      inputs[name].setAttribute('aria-readonly', readOnly ? 'true' : 'false');
    });
    Array.prototype.forEach.call(document.querySelectorAll('input[name="method"]'), function (radio) {
      radio.disabled = readOnly;
    });
    form.classList.toggle('readonly', readOnly);
  }

  window.addEventListener('message', function (event) {
    if (event.origin !== PARENT || event.source !== window.parent) { return; }
    var msg = event.data;
    if (!msg || msg.__stripeEmulator !== true) { return; }
    if (msg.action === 'validate') {
      post({ action: 'result', requestId: msg.requestId, result: validate() });
    } else if (msg.action === 'createToken') {
      createToken(msg.payload).then(function (result) {
        post({ action: 'result', requestId: msg.requestId, result: result });
      });
    } else if (msg.action === 'focus') {
      inputs[ORDER[0]].focus();
    } else if (msg.action === 'blur') {
      if (document.activeElement) { document.activeElement.blur(); }
    } else if (msg.action === 'appearance') {
      window.EmuAppearance.apply(msg.appearance);
      resize();
    } else if (msg.action === 'update') {
      var options = msg.options || {};
      if (Object.prototype.hasOwnProperty.call(options, 'readOnly')) { setReadOnly(options.readOnly === true); }
    } else if (msg.action === 'clear') {
      ALL.forEach(function (name) { inputs[name].value = ''; touched[name] = false; });
      refresh(false);
    }
  });

  post({ action: 'ready' });
  resize();
}());
