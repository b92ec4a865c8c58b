/* The Address Element's inside (shipping mode), on the emulator origin. It validates the address and tells the
 * parent page its value on every change, as Stripe's does; the page passes that value on as the
 * ConfirmationToken's shipping. Options arrive as JSON in the `options` query parameter. */
(function () {
  'use strict';
  var query = new URLSearchParams(window.location.search);
  var PARENT = query.get('parentOrigin');
  var OPTIONS = {};
  try { OPTIONS = JSON.parse(query.get('options') || '{}') || {}; } catch (e) { OPTIONS = {}; }

  var COUNTRY_NAMES = {
    US: 'United States', CA: 'Canada', GB: 'United Kingdom', IE: 'Ireland', DE: 'Germany', FR: 'France',
    NL: 'Netherlands', BE: 'Belgium', ES: 'Spain', IT: 'Italy', AT: 'Austria', CH: 'Switzerland', SE: 'Sweden',
    DK: 'Denmark', NO: 'Norway', FI: 'Finland', PL: 'Poland', PT: 'Portugal', AU: 'Australia',
    NZ: 'New Zealand', JP: 'Japan', SG: 'Singapore', HK: 'Hong Kong', MX: 'Mexico', BR: 'Brazil', IN: 'India'
  };
  var US_STATES = [
    ['AL', 'Alabama'], ['AK', 'Alaska'], ['AZ', 'Arizona'], ['AR', 'Arkansas'], ['CA', 'California'],
    ['CO', 'Colorado'], ['CT', 'Connecticut'], ['DE', 'Delaware'], ['DC', 'District of Columbia'],
    ['FL', 'Florida'], ['GA', 'Georgia'], ['HI', 'Hawaii'], ['ID', 'Idaho'], ['IL', 'Illinois'],
    ['IN', 'Indiana'], ['IA', 'Iowa'], ['KS', 'Kansas'], ['KY', 'Kentucky'], ['LA', 'Louisiana'], ['ME', 'Maine'],
    ['MD', 'Maryland'], ['MA', 'Massachusetts'], ['MI', 'Michigan'], ['MN', 'Minnesota'], ['MS', 'Mississippi'],
    ['MO', 'Missouri'], ['MT', 'Montana'], ['NE', 'Nebraska'], ['NV', 'Nevada'], ['NH', 'New Hampshire'],
    ['NJ', 'New Jersey'], ['NM', 'New Mexico'], ['NY', 'New York'], ['NC', 'North Carolina'],
    ['ND', 'North Dakota'], ['OH', 'Ohio'], ['OK', 'Oklahoma'], ['OR', 'Oregon'], ['PA', 'Pennsylvania'],
    ['PR', 'Puerto Rico'], ['RI', 'Rhode Island'], ['SC', 'South Carolina'], ['SD', 'South Dakota'],
    ['TN', 'Tennessee'], ['TX', 'Texas'], ['UT', 'Utah'], ['VT', 'Vermont'], ['VA', 'Virginia'],
    ['WA', 'Washington'], ['WV', 'West Virginia'], ['WI', 'Wisconsin'], ['WY', 'Wyoming']
  ];
  var NO_POSTAL_CODE = ['IE', 'HK', 'AE'];
  var TEXT = ['name', 'line1', 'line2', 'city', 'stateText', 'postalCode', 'phone'];
  var inputs = {};
  TEXT.concat(['country', 'state']).forEach(function (name) { inputs[name] = document.getElementById(name); });
  var touched = {};

  var fields = OPTIONS.fields || {};
  var validation = OPTIONS.validation || {};
  var phoneRequired = !!(validation.phone && validation.phone.required === 'always');
  var phoneShown = fields.phone === 'always' || (fields.phone !== 'never' && phoneRequired);
  document.getElementById('phone-field').hidden = !phoneShown;

  var allowed = (Array.isArray(OPTIONS.allowedCountries) && OPTIONS.allowedCountries.length ?
    OPTIONS.allowedCountries : Object.keys(COUNTRY_NAMES)).map(function (c) { return String(c).toUpperCase(); });
  allowed.forEach(function (code) {
    var option = document.createElement('option');
    option.value = code;
    option.textContent = COUNTRY_NAMES[code] || code;
    inputs.country.appendChild(option);
  });
  var blank = document.createElement('option');
  blank.value = '';
  blank.textContent = 'Select';
  inputs.state.appendChild(blank);
  US_STATES.forEach(function (pair) {
    var option = document.createElement('option');
    option.value = pair[0];
    option.textContent = pair[1];
    inputs.state.appendChild(option);
  });

  function country() { return inputs.country.value; }
  function isUS() { return country() === 'US'; }
  function stateName() { return isUS() ? 'state' : 'stateText'; }
  function order() {
    var names = ['name', 'country', 'line1', 'line2', 'city', stateName(), 'postalCode'];
    return phoneShown ? names.concat(['phone']) : names;
  }

  function post(msg) {
    msg.__stripeEmulator = true;
    window.parent.postMessage(msg, PARENT);
  }
  function resize() { post({ action: 'resize', height: Math.ceil(document.documentElement.scrollHeight) + 2 }); }
  function err(code, message) { return { type: 'validation_error', code: code, message: message }; }
  function val(name) { return inputs[name].value.trim(); }

  var checks = {
    name: function () { return val('name') ? null : err('incomplete_name', 'Your full name is incomplete.'); },
    country: function () { return country() ? null : err('incomplete_country', 'Your country is incomplete.'); },
    line1: function () { return val('line1') ? null : err('incomplete_address_line1', 'Your address is incomplete.'); },
    line2: function () { return null; },
    city: function () { return val('city') ? null : err('incomplete_locality', 'Your city is incomplete.'); },
    state: function () { return val('state') ? null : err('incomplete_administrative_area', 'Your state is incomplete.'); },
    stateText: function () {
      if (country() === 'CA' && !val('stateText')) {
        return err('incomplete_administrative_area', 'Your province is incomplete.');
      }
      return null;
    },
    postalCode: function () {
      var code = val('postalCode');
      if (isUS()) {
        if (!code) { return err('incomplete_postal_code', 'Your ZIP is incomplete.'); }
        return /^\d{5}(-\d{4})?$/.test(code) ? null : err('invalid_postal_code', 'Your ZIP is invalid.');
      }
      if (!code && NO_POSTAL_CODE.indexOf(country()) < 0) {
        return err('incomplete_postal_code', 'Your postal code is incomplete.');
      }
      return null;
    },
    phone: function () {
      var phone = val('phone');
      if (!phone) { return phoneRequired ? err('incomplete_phone', 'Your phone number is incomplete.') : null; }
      var digits = phone.replace(/\D/g, '');
      if (!/^\+?[\d\s().-]+$/.test(phone) || digits.length < 7 || digits.length > 15) {
        return err('invalid_phone', 'Your phone number is invalid.');
      }
      return null;
    }
  };

  function layout() {
    document.getElementById('state-field').hidden = !isUS();
    document.getElementById('stateText-field').hidden = isUS();
    document.getElementById('postalCode-label').textContent = isUS() ? 'ZIP' : 'Postal code';
    inputs.postalCode.setAttribute('inputmode', isUS() ? 'numeric' : 'text');
  }

  function value() {
    var state = isUS() ? val('state') : val('stateText');
    return {
      name: val('name'),
      address: { line1: val('line1'), line2: val('line2') || null, city: val('city'), state: state || null,
                 postal_code: val('postalCode'), country: country() },
      phone: phoneShown ? (val('phone') || null) : null
    };
  }

  function show(name, error) {
    document.getElementById(name + '-error').textContent = error ? error.message : '';
    inputs[name].classList.toggle('invalid', !!error);
    inputs[name].setAttribute('aria-invalid', error ? 'true' : 'false');
  }

  function errors() {
    var result = {};
    order().forEach(function (name) { result[name] = checks[name](); });
    return result;
  }

  function firstError(all, onlyShown) {
    var names = order();
    for (var i = 0; i < names.length; i++) {
      if (all[names[i]] && (!onlyShown || touched[names[i]])) { return all[names[i]]; }
    }
    return null;
  }

  function isEmpty() {
    return ['name', 'line1', 'line2', 'city', 'stateText', 'postalCode', 'phone', 'state'].every(function (name) {
      return !val(name);
    });
  }

  function refresh(showAll) {
    var all = errors();
    order().forEach(function (name) { show(name, showAll || touched[name] ? all[name] : null); });
    var change = { action: 'change', complete: !firstError(all, false), empty: isEmpty(), value: value() };
    post(change);
    resize();
    return all;
  }

  function validate() {
    order().forEach(function (name) { touched[name] = true; });
    var all = refresh(true);
    var first = firstError(all, false);
    if (first) {
      inputs[order().filter(function (n) { return all[n]; })[0]].focus();
      return { error: first };
    }
    return {};
  }

  function applyDefaults(defaults) {
    var address = defaults.address || {};
    var wanted = String(address.country || '').toUpperCase();
    if (wanted && allowed.indexOf(wanted) >= 0) { inputs.country.value = wanted; }
    layout();
    var text = { name: defaults.name, line1: address.line1, line2: address.line2, city: address.city,
                 postalCode: address.postal_code, phone: defaults.phone };
    Object.keys(text).forEach(function (name) { if (typeof text[name] === 'string') { inputs[name].value = text[name]; } });
    if (typeof address.state === 'string') {
      if (isUS()) { inputs.state.value = address.state.toUpperCase(); } else { inputs.stateText.value = address.state; }
    }
  }

  TEXT.forEach(function (name) {
    inputs[name].addEventListener('input', function () { refresh(false); });
  });
  ['country', 'state'].forEach(function (name) {
    inputs[name].addEventListener('change', function () {
      if (name === 'country') {
        inputs.state.value = '';
        inputs.stateText.value = '';
        touched.state = touched.stateText = false;
        layout();
      } else {
        touched.state = true;
      }
      refresh(false);
    });
  });
  TEXT.concat(['country', 'state']).forEach(function (name) {
    inputs[name].addEventListener('blur', function () {
      if (val(name)) { touched[name] = true; }
      refresh(false);
      post({ action: 'blur' });
    });
    inputs[name].addEventListener('focus', function () { post({ action: 'focus' }); });
  });
  document.getElementById('address-form').addEventListener('submit', function (ev) { ev.preventDefault(); });

  window.addEventListener('message', function (event) {
    if (event.origin !== PARENT || event.source !== window.parent) { return; }
    var msg = event.data;
    if (!msg || msg.__stripeEmulator !== true) { return; }
    if (msg.action === 'validate') {
      post({ action: 'result', requestId: msg.requestId, result: validate() });
    } else if (msg.action === 'getValue') {
      var complete = !firstError(errors(), false);
      post({ action: 'result', requestId: msg.requestId,
             result: { complete: complete, isNewAddress: true, value: value() } });
    } else if (msg.action === 'focus') {
      inputs.name.focus();
    } else if (msg.action === 'blur') {
      if (document.activeElement) { document.activeElement.blur(); }
    } else if (msg.action === 'appearance') {
      window.EmuAppearance.apply(msg.appearance);
      resize();
    } else if (msg.action === 'clear') {
      TEXT.concat(['state']).forEach(function (name) { inputs[name].value = ''; touched[name] = false; });
      refresh(false);
    }
  });

  var defaults = OPTIONS.defaultValues && typeof OPTIONS.defaultValues === 'object' ? OPTIONS.defaultValues : null;
  if (defaults) { applyDefaults(defaults); } else { layout(); }
  post({ action: 'ready' });
  if (defaults) { refresh(false); }
  resize();
}());
