/* Stripe.js look-alike served by stripe-emulator. No eval, no inline script or style:
 * it works under a strict CSP. Card data never touches this page: the Payment
 * Element is an iframe on the emulator's origin, spoken to with postMessage. */
(function () {
  'use strict';
  if (window.Stripe) { return; }

  var script = document.currentScript;
  var ORIGIN = new URL(script ? script.src : '/v3/', window.location.href).origin;
  var frameCount = 0;

  function makeId(prefix) {
    frameCount += 1;
    return prefix + frameCount + Math.random().toString(36).slice(2, 10);
  }

  function listen(win, handler) {
    function onMessage(event) {
      if (event.origin !== ORIGIN || event.source !== win()) { return; }
      var data = event.data;
      if (!data || data.__stripeEmulator !== true) { return; }
      handler(data);
    }
    window.addEventListener('message', onMessage);
    return function () { window.removeEventListener('message', onMessage); };
  }

  function connectionError(err) {
    return { error: { type: 'api_connection_error',
                      message: 'An error occurred with our connection to Stripe. Request was retried.' ,
                      detail: String(err && err.message || err) } };
  }

  // The Elements the emulator provides: the iframe document each one loads, its title and first height.
  var FRAMES = {
    payment: { page: 'elements-inner-payment.html', title: 'Secure payment input frame', height: 260 },
    address: { page: 'elements-inner-address.html', title: 'Secure address input frame', height: 330 }
  };

  function Element(elements, type, options) {
    this._type = type;
    this._elements = elements;
    this._options = options || {};
    this._handlers = {};
    this._pending = {};
    this._iframe = null;
    this._ready = false;
    this._queue = [];
    this._state = { complete: false, empty: true };
  }

  Element.prototype.on = function (name, cb) {
    (this._handlers[name] = this._handlers[name] || []).push(cb);
    return this;
  };
  Element.prototype.off = function (name, cb) {
    this._handlers[name] = (this._handlers[name] || []).filter(function (h) { return h !== cb; });
    return this;
  };
  Element.prototype._emit = function (name, payload) {
    (this._handlers[name] || []).forEach(function (cb) {
      try { cb(payload); } catch (e) { setTimeout(function () { throw e; }); }
    });
  };

  Element.prototype.mount = function (target) {
    var host = typeof target === 'string' ? document.querySelector(target) : target;
    if (!host) { throw new Error('IntegrationError: could not find the element to mount the ' + this._type + ' Element: ' + target); }
    var self = this;
    var frame = FRAMES[this._type];
    var name = makeId('__privateStripeFrame');
    var query = new URLSearchParams({ key: this._elements._stripe._key, parentOrigin: window.location.origin,
                                      frame: name });
    var types = this._elements._options.paymentMethodTypes;
    if (this._type === 'payment' && Array.isArray(types) && types.length) { query.set('methods', types.join(',')); }
    if (this._type === 'address') { query.set('options', JSON.stringify(this._options)); }
    var iframe = document.createElement('iframe');
    iframe.name = name;
    iframe.title = frame.title;
    iframe.src = ORIGIN + '/v3/' + frame.page + '?' + query.toString();
    iframe.setAttribute('frameborder', '0');
    iframe.setAttribute('allowtransparency', 'true');
    iframe.setAttribute('scrolling', 'no');
    iframe.setAttribute('role', 'presentation');
    iframe.style.border = '0';
    iframe.style.width = '100%';
    iframe.style.minWidth = '100%';
    iframe.style.height = frame.height + 'px';
    iframe.style.display = 'block';
    iframe.style.overflow = 'hidden';
    this._iframe = iframe;
    this._host = host;
    this._unlisten = listen(function () { return iframe.contentWindow; }, function (msg) { self._onMessage(msg); });
    host.appendChild(iframe);
    if (this._elements._options.appearance !== undefined) { this._sendAppearance(this._elements._options.appearance); }
    if (this._options.readOnly !== undefined) {
      this._send({ action: 'update', options: { readOnly: this._options.readOnly === true } });
    }
    return this;
  };

  Element.prototype.unmount = function () {
    if (this._unlisten) { this._unlisten(); }
    if (this._iframe && this._iframe.parentNode) { this._iframe.parentNode.removeChild(this._iframe); }
    this._iframe = null;
    this._ready = false;
    return this;
  };
  Element.prototype.destroy = Element.prototype.unmount;

  // addressElement.getValue(): a Promise of {complete, isNewAddress, value}, as Stripe's.
  Element.prototype.getValue = function () {
    if (this._type !== 'address') { return Promise.reject(new Error('IntegrationError: getValue() is for the address Element.')); }
    return this._request('getValue');
  };

  Element.prototype.focus = function () { this._send({ action: 'focus' }); return this; };
  Element.prototype.blur = function () { this._send({ action: 'blur' }); return this; };
  Element.prototype.clear = function () { this._send({ action: 'clear' }); return this; };
  Element.prototype.update = function (options) {
    options = options || {};
    this._options = Object.assign({}, this._options, options);
    if (this._iframe && Object.prototype.hasOwnProperty.call(options, 'readOnly')) {
      this._send({ action: 'update', options: { readOnly: options.readOnly === true } });
    }
    return this;
  };

  // The appearance goes to the iframe as plain data (functions and the like dropped); the iframe checks
  // every value before using it.
  Element.prototype._sendAppearance = function (appearance) {
    var copy;
    try {
      copy = JSON.parse(JSON.stringify(appearance === undefined ? {} : appearance));
    } catch (e) {
      if (window.console) {
        console.warn('[stripe-emulator] appearance could not be read and was ignored: ' + e.message);
      }
      copy = {};
    }
    this._send({ action: 'appearance', appearance: copy });
  };

  Element.prototype._send = function (msg) {
    msg.__stripeEmulator = true;
    if (!this._ready) { this._queue.push(msg); return; }
    this._iframe.contentWindow.postMessage(msg, ORIGIN);
  };

  Element.prototype._request = function (action, payload) {
    var self = this;
    return new Promise(function (resolve) {
      if (!self._iframe) {
        resolve({ error: { type: 'validation_error', code: 'element_not_mounted',
                           message: 'The ' + self._type + ' Element is not mounted.' } });
        return;
      }
      var id = makeId('req');
      self._pending[id] = resolve;
      self._send({ action: action, requestId: id, payload: payload || {} });
    });
  };

  Element.prototype._onMessage = function (msg) {
    if (msg.action === 'ready') {
      this._ready = true;
      var queue = this._queue;
      this._queue = [];
      for (var i = 0; i < queue.length; i++) { this._iframe.contentWindow.postMessage(queue[i], ORIGIN); }
      this._emit('ready', { elementType: this._type });
    } else if (msg.action === 'change' && this._type === 'address') {
      this._state = { complete: msg.complete, empty: msg.empty };
      this._emit('change', { elementType: 'address', empty: msg.empty, complete: msg.complete, isNewAddress: true,
                             value: msg.value });
    } else if (msg.action === 'change') {
      this._state = { complete: msg.complete, empty: msg.empty };
      var ev = { elementType: 'payment', complete: msg.complete, empty: msg.empty,
                 value: { type: 'card' }, collapsed: false };
      if (msg.error) { ev.error = msg.error; }
      this._emit('change', ev);
    } else if (msg.action === 'focus' || msg.action === 'blur') {
      this._emit(msg.action, { elementType: this._type });
    } else if (msg.action === 'resize' && this._iframe) {
      this._iframe.style.height = msg.height + 'px';
    } else if (msg.action === 'result' && this._pending[msg.requestId]) {
      var resolve = this._pending[msg.requestId];
      delete this._pending[msg.requestId];
      resolve(msg.result);
    }
  };

  function Elements(stripe, options) {
    this._stripe = stripe;
    this._options = options || {};
    this._created = [];  // in creation order: elements.submit() answers with the first one's error
    this._submitted = false;
  }
  Elements.prototype.create = function (type, options) {
    if (!FRAMES[type]) { throw new Error('IntegrationError: the emulator provides the "payment" and "address" Elements only.'); }
    if (this.getElement(type)) { throw new Error('IntegrationError: Can only create one Element of type ' + type + '.'); }
    if (type === 'address' && !(options && options.mode === 'shipping')) {
      throw new Error('IntegrationError: the emulator\'s address Element needs mode: "shipping" (billing mode is not built).');
    }
    var element = new Element(this, type, options);
    this._created.push(element);
    return element;
  };
  Elements.prototype.getElement = function (type) {
    return this._created.filter(function (e) { return e._type === type; })[0] || null;
  };
  // elements.update({amount, currency, appearance, ...}): the options are kept; an appearance goes to every iframe.
  Elements.prototype.update = function (options) {
    options = options || {};
    this._options = Object.assign({}, this._options, options);
    if (Object.prototype.hasOwnProperty.call(options, 'appearance')) {
      this._created.forEach(function (element) {
        if (element._iframe) { element._sendAppearance(options.appearance); }
      });
    }
    return this;
  };
  Elements.prototype.fetchUpdates = function () { return Promise.resolve({}); };
  // Every Element of the group validates (each shows its own errors); the first error is the answer.
  Elements.prototype.submit = function () {
    var self = this;
    if (!this.getElement('payment')) {
      return Promise.resolve({ error: { type: 'validation_error', code: 'element_not_mounted',
                                        message: 'Create and mount the Payment Element before calling elements.submit().' } });
    }
    return Promise.all(this._created.map(function (e) { return e._request('validate'); })).then(function (results) {
      var failed = results.filter(function (r) { return r.error; })[0];
      self._submitted = !failed;
      return failed || {};
    });
  };

  // The Address Element's value as a ConfirmationToken's shipping (Stripe's shape; empty parts left out).
  function shippingOf(value) {
    var shipping = { name: value.name, address: {} };
    Object.keys(value.address).forEach(function (k) {
      if (value.address[k]) { shipping.address[k] = value.address[k]; }
    });
    if (value.phone) { shipping.phone = value.phone; }
    return shipping;
  }

  function fetchJson(url) {
    return fetch(url, { method: 'GET', credentials: 'omit' }).then(function (resp) {
      return resp.json();
    });
  }

  function openChallenge(stripe, intent, clientSecret) {
    return new Promise(function (resolve) {
      var overlay = document.createElement('div');
      overlay.setAttribute('data-stripe-emulator', '3ds-overlay');
      overlay.style.position = 'fixed';
      overlay.style.top = '0';
      overlay.style.left = '0';
      overlay.style.right = '0';
      overlay.style.bottom = '0';
      overlay.style.background = 'rgba(0, 0, 0, 0.5)';
      overlay.style.zIndex = '2147483647';
      overlay.style.display = 'flex';
      overlay.style.alignItems = 'center';
      overlay.style.justifyContent = 'center';
      var iframe = document.createElement('iframe');
      iframe.name = makeId('__privateStripeFrame');
      iframe.title = '3D Secure challenge';
      var query = new URLSearchParams({ key: stripe._key, payment_intent: intent.id, client_secret: clientSecret,
                                        parentOrigin: window.location.origin });
      iframe.src = ORIGIN + '/v3/three-d-secure.html?' + query.toString();
      iframe.setAttribute('frameborder', '0');
      iframe.style.width = '420px';
      iframe.style.maxWidth = '95vw';
      iframe.style.height = '360px';
      iframe.style.border = '0';
      iframe.style.borderRadius = '8px';
      iframe.style.background = '#fff';
      overlay.appendChild(iframe);
      var unlisten = listen(function () { return iframe.contentWindow; }, function (msg) {
        if (msg.action !== '3ds-done') { return; }
        unlisten();
        overlay.parentNode.removeChild(overlay);
        resolve(msg);
      });
      document.body.appendChild(overlay);
    });
  }

  function intentResult(intent) {
    if (intent.error) { return { error: intent.error }; }
    var setup = intent.object === 'setup_intent';
    var lastError = setup ? intent.last_setup_error : intent.last_payment_error;
    if (intent.status === 'requires_payment_method' && lastError) {
      var err = Object.assign({}, lastError);
      err[setup ? 'setup_intent' : 'payment_intent'] = intent;
      return { error: err };
    }
    return setup ? { setupIntent: intent } : { paymentIntent: intent };
  }

  // handleNextAction takes a PaymentIntent's or a SetupIntent's client secret, as Stripe.js does.
  function retrieveIntent(stripe, clientSecret) {
    var setup = String(clientSecret).indexOf('seti_') === 0;
    var id = String(clientSecret).split('_secret_')[0];
    var url = ORIGIN + (setup ? '/v1/setup_intents/' : '/v1/payment_intents/') + encodeURIComponent(id) + '?' +
      new URLSearchParams({ key: stripe._key, client_secret: clientSecret }).toString();
    return fetchJson(url).then(function (body) {
      return body.error ? { error: body.error } : { intent: body };
    }, connectionError);
  }

  function StripeInstance(key, options) {
    if (typeof key !== 'string' || key.indexOf('pk_') !== 0) {
      throw new Error('IntegrationError: Invalid value for Stripe(): apiKey should be a publishable key (pk_...).');
    }
    this._key = key;
    this._options = options || {};
  }

  StripeInstance.prototype.elements = function (options) { return new Elements(this, options); };

  StripeInstance.prototype.createConfirmationToken = function (args) {
    var elements = args && args.elements;
    var payment = elements && elements.getElement && elements.getElement('payment');
    if (!payment) {
      return Promise.resolve({ error: { type: 'invalid_request_error', code: 'elements_missing',
                                        message: 'stripe.createConfirmationToken requires `elements`.' } });
    }
    var params = Object.assign({}, (args && args.params) || {});
    var address = elements.getElement('address');
    if (!address || params.shipping) { return payment._request('createToken', { params: params }); }
    // The shipping address comes from the Address Element: it must be complete first.
    return address._request('validate').then(function (checked) {
      if (checked.error) { return checked; }
      return address._request('getValue').then(function (got) {
        params.shipping = shippingOf(got.value);
        return payment._request('createToken', { params: params });
      });
    });
  };

  StripeInstance.prototype.retrievePaymentIntent = function (clientSecret) {
    var id = String(clientSecret).split('_secret_')[0];
    var url = ORIGIN + '/v1/payment_intents/' + encodeURIComponent(id) + '?' +
      new URLSearchParams({ key: this._key, client_secret: clientSecret }).toString();
    return fetchJson(url).then(function (body) {
      return body.error ? { error: body.error } : { paymentIntent: body };
    }, connectionError);
  };

  StripeInstance.prototype.handleNextAction = function (args) {
    var self = this;
    var clientSecret = typeof args === 'string' ? args : args && args.clientSecret;
    if (!clientSecret) {
      return Promise.resolve({ error: { type: 'invalid_request_error', message: 'handleNextAction requires clientSecret.' } });
    }
    return retrieveIntent(this, clientSecret).then(function (res) {
      if (res.error) { return res; }
      var intent = res.intent;
      if (intent.status !== 'requires_action') { return intentResult(intent); }
      return openChallenge(self, intent, clientSecret).then(function () {
        return retrieveIntent(self, clientSecret);
      }).then(function (after) {
        return after.error ? after : intentResult(after.intent);
      });
    });
  };
  StripeInstance.prototype.handleCardAction = StripeInstance.prototype.handleNextAction;

  window.Stripe = function (key, options) { return new StripeInstance(key, options); };
  window.Stripe.version = 3;
  window.Stripe.emulator = true;
}());
