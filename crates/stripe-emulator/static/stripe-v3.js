// A subset of Stripe.js v3, served by ordo's Stripe emulator at /v3/ so a storefront's payment page
// runs unchanged offline: Stripe(pk), stripe.elements({clientSecret}), elements.create('payment'),
// element.mount(target) / on(event) / unmount() / focus(), elements.submit(),
// stripe.confirmPayment({elements, confirmParams: {return_url}, redirect}), and
// stripe.retrievePaymentIntent(clientSecret). The card field takes Stripe's test cards:
//   4242 4242 4242 4242  succeeds          4000 0000 0000 0002  is declined
//   4000 0027 6000 3184  asks for 3-D Secure (a dialog: complete or fail the authentication)
//   5555 5555 5555 4444  Mastercard, succeeds
// It calls the emulator it was loaded from (the script's origin) with the publishable key and the
// client secret, as Stripe.js calls api.stripe.com. Unlike Stripe.js it renders plain inputs into
// the page (no iframe), styled by the page's own CSS (classes sp-*).
(function () {
  "use strict";
  var script = document.currentScript;
  var API = script && script.src ? new URL(script.src).origin : window.location.origin;
  var CARDS = {
    "4242424242424242": "pm_card_visa",
    "5555555555554444": "pm_card_mastercard",
    "4000056655665556": "pm_card_visa_debit",
    "378282246310005": "pm_card_amex",
    "4000000000000002": "pm_card_chargeDeclined",
    "4000002760003184": "pm_card_authenticationRequired"
  };

  function digits(s) { return (s || "").replace(/[\s-]/g, ""); }
  function luhn(n) {
    var sum = 0, alt = false;
    for (var i = n.length - 1; i >= 0; i--) {
      var d = n.charCodeAt(i) - 48;
      if (alt) { d *= 2; if (d > 9) d -= 9; }
      sum += d; alt = !alt;
    }
    return sum % 10 === 0;
  }
  function encode(params) {
    return Object.keys(params).filter(function (k) { return params[k] !== undefined && params[k] !== null; })
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); }).join("&");
  }
  function intentId(secret) { return String(secret || "").split("_secret_")[0]; }
  function validationError(code, message, param) {
    return { type: "validation_error", code: code, message: message, param: param };
  }

  function PaymentElement(elements) {
    this._elements = elements;
    this._root = null;
    this._handlers = {};
  }
  PaymentElement.prototype.on = function (event, handler) {
    (this._handlers[event] = this._handlers[event] || []).push(handler);
    return this;
  };
  PaymentElement.prototype._emit = function (event, payload) {
    (this._handlers[event] || []).forEach(function (h) { try { h(payload); } catch (e) { console.error(e); } });
  };
  PaymentElement.prototype.mount = function (target) {
    var host = typeof target === "string" ? document.querySelector(target) : target;
    if (!host) { throw new Error("IntegrationError: the element to mount into was not found: " + target); }
    host.innerHTML = "";
    var root = document.createElement("div");
    root.className = "sp-element";
    root.innerHTML =
      '<div class="sp-row"><label class="sp-label" for="sp-number">Card number</label>' +
      '<input class="sp-input" id="sp-number" name="cardnumber" inputmode="numeric" autocomplete="cc-number" placeholder="1234 1234 1234 1234" aria-describedby="sp-error"></div>' +
      '<div class="sp-pair"><div class="sp-row"><label class="sp-label" for="sp-expiry">Expiry date (MM / YY)</label>' +
      '<input class="sp-input" id="sp-expiry" name="exp-date" inputmode="numeric" autocomplete="cc-exp" placeholder="MM / YY" aria-describedby="sp-error"></div>' +
      '<div class="sp-row"><label class="sp-label" for="sp-cvc">Security code</label>' +
      '<input class="sp-input" id="sp-cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" placeholder="CVC" aria-describedby="sp-error"></div></div>' +
      '<p class="sp-error" id="sp-error" role="alert"></p>' +
      '<p class="sp-note">Test mode: no real card is charged.</p>';
    host.appendChild(root);
    this._root = root;
    var self = this;
    ["sp-number", "sp-expiry", "sp-cvc"].forEach(function (id) {
      root.querySelector("#" + id).addEventListener("input", function () {
        self._showError("");
        self._emit("change", { elementType: "payment", empty: false, complete: !self._check().error });
      });
    });
    setTimeout(function () { self._emit("ready", { elementType: "payment" }); }, 0);
    return this;
  };
  PaymentElement.prototype.unmount = function () {
    if (this._root && this._root.parentNode) { this._root.parentNode.removeChild(this._root); }
    this._root = null;
  };
  PaymentElement.prototype.destroy = PaymentElement.prototype.unmount;
  PaymentElement.prototype.focus = function () { if (this._root) this._root.querySelector("#sp-number").focus(); };
  PaymentElement.prototype._field = function (id) { return this._root ? this._root.querySelector("#" + id).value : ""; };
  PaymentElement.prototype._showError = function (message) {
    if (this._root) { this._root.querySelector("#sp-error").textContent = message || ""; }
  };
  // The test payment method for what was typed, or Stripe's validation error.
  PaymentElement.prototype._check = function () {
    var number = digits(this._field("sp-number"));
    if (!number) return { error: validationError("incomplete_number", "Your card number is incomplete.", "number") };
    if (!/^\d{13,19}$/.test(number) || !luhn(number)) {
      return { error: validationError("incorrect_number", "Your card number is invalid.", "number") };
    }
    var exp = this._field("sp-expiry").replace(/\s/g, "").match(/^(\d{1,2})\/?(\d{2})$/);
    if (!exp) return { error: validationError("incomplete_expiry", "Your card's expiration date is incomplete.", "exp") };
    var month = parseInt(exp[1], 10), year = 2000 + parseInt(exp[2], 10), now = new Date();
    if (month < 1 || month > 12) return { error: validationError("invalid_expiry_month", "Your card's expiration month is invalid.", "exp") };
    if (year < now.getFullYear() || (year === now.getFullYear() && month < now.getMonth() + 1)) {
      return { error: validationError("invalid_expiry_year_past", "Your card's expiration year is in the past.", "exp") };
    }
    if (!/^\d{3,4}$/.test(digits(this._field("sp-cvc")))) {
      return { error: validationError("incomplete_cvc", "Your card's security code is incomplete.", "cvc") };
    }
    var pm = CARDS[number];
    if (!pm) return { error: { type: "card_error", code: "card_declined", message: "Your card was declined. (In test mode, use one of Stripe's test cards.)" } };
    return { paymentMethod: pm };
  };

  function Elements(stripe, options) {
    this._stripe = stripe;
    this._clientSecret = options && options.clientSecret;
    this._payment = null;
  }
  Elements.prototype.create = function (type) {
    if (type !== "payment" && type !== "card") { throw new Error("IntegrationError: this emulator offers the 'payment' element only"); }
    this._payment = new PaymentElement(this);
    return this._payment;
  };
  Elements.prototype.getElement = function (type) { return type === "payment" || type === "card" ? this._payment : null; };
  Elements.prototype.submit = function () {
    var checked = this._payment ? this._payment._check() : { error: validationError("incomplete", "The payment form is not mounted.") };
    if (checked.error && this._payment) this._payment._showError(checked.error.message);
    return Promise.resolve(checked.error ? { error: checked.error } : {});
  };

  function StripeClient(key) {
    if (typeof key !== "string" || key.indexOf("pk_") !== 0) {
      throw new Error("IntegrationError: Stripe() needs a publishable key (pk_...).");
    }
    this._key = key;
  }
  StripeClient.prototype.elements = function (options) { return new Elements(this, options || {}); };
  StripeClient.prototype._call = function (method, path, params) {
    var init = { method: method, headers: { "Authorization": "Bearer " + this._key } };
    var url = API + path;
    if (method === "GET") { url += "?" + encode(params); }
    else { init.headers["Content-Type"] = "application/x-www-form-urlencoded"; init.body = encode(params); }
    return fetch(url, init).then(function (r) { return r.json(); }, function () {
      return { error: { type: "api_connection_error", message: "We could not reach the payment service. Check your connection and try again." } };
    });
  };
  StripeClient.prototype.retrievePaymentIntent = function (clientSecret) {
    return this._call("GET", "/v1/payment_intents/" + intentId(clientSecret), { client_secret: clientSecret })
      .then(function (r) { return r.error ? { error: r.error } : { paymentIntent: r }; });
  };
  // The 3-D Secure challenge of a test card, as a dialog in the page.
  StripeClient.prototype._challenge = function (pi, clientSecret) {
    return new Promise(function (resolve) {
      var dialog = document.createElement("div");
      dialog.className = "sp-challenge";
      dialog.setAttribute("role", "dialog");
      dialog.setAttribute("aria-modal", "true");
      dialog.setAttribute("aria-labelledby", "sp-challenge-title");
      dialog.innerHTML = '<div class="sp-challenge-box"><h2 id="sp-challenge-title">Confirm this payment</h2>' +
        '<p>Your bank asks you to confirm this payment (3-D Secure, test mode).</p>' +
        '<button type="button" id="sp-3ds-complete">Complete authentication</button> ' +
        '<button type="button" id="sp-3ds-fail">Fail authentication</button></div>';
      document.body.appendChild(dialog);
      dialog.querySelector("#sp-3ds-complete").focus();
      function answer(outcome) {
        fetch(API + "/_emulator/payment_intents/" + pi.id + "/authenticate", {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ client_secret: clientSecret, outcome: outcome })
        }).then(function (r) { return r.json(); }).then(function (r) {
          document.body.removeChild(dialog);
          resolve(r);
        });
      }
      dialog.querySelector("#sp-3ds-complete").addEventListener("click", function () { answer("complete"); });
      dialog.querySelector("#sp-3ds-fail").addEventListener("click", function () { answer("fail"); });
    });
  };
  StripeClient.prototype.confirmPayment = function (options) {
    options = options || {};
    var elements = options.elements;
    var clientSecret = options.clientSecret || (elements && elements._clientSecret);
    var element = elements && elements._payment;
    if (!element || !clientSecret) {
      return Promise.resolve({ error: validationError("integration", "confirmPayment needs the mounted payment element and its client secret.") });
    }
    var checked = element._check();
    if (checked.error) { element._showError(checked.error.message); return Promise.resolve({ error: checked.error }); }
    var params = options.confirmParams || {};
    var returnUrl = params.return_url;
    if (options.redirect !== "if_required" && !returnUrl) {
      return Promise.resolve({ error: validationError("integration", "confirmPayment needs confirmParams.return_url unless redirect is 'if_required'.") });
    }
    var self = this;
    function finish(result) {
      if (result.error) {
        var e = result.error;
        e.payment_intent = e.payment_intent || undefined;
        return { error: e };
      }
      if (options.redirect === "if_required") return { paymentIntent: result };
      var sep = returnUrl.indexOf("?") >= 0 ? "&" : "?";
      window.location.href = returnUrl + sep + encode({
        payment_intent: result.id, payment_intent_client_secret: clientSecret,
        redirect_status: result.status === "succeeded" || result.status === "processing" || result.status === "requires_capture" ? "succeeded" : "failed"
      });
      return new Promise(function () {});
    }
    return this._call("POST", "/v1/payment_intents/" + intentId(clientSecret) + "/confirm", {
      payment_method: checked.paymentMethod, client_secret: clientSecret, return_url: returnUrl
    }).then(function (r) {
      if (!r.error && r.status === "requires_action") {
        return self._challenge(r, clientSecret).then(finish);
      }
      return finish(r);
    });
  };

  window.Stripe = function (key, options) { return new StripeClient(key, options); };
  window.Stripe.version = 3;
})();
