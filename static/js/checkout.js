// Checkout: the Address Element (shipping) and the Payment Element in deferred-intent mode, in one Elements group.
// Card data stays in Stripe's iframe; this page only ever sees a ConfirmationToken id, which it sends to
// /checkout/confirm with the checkout attempt id and the signed quote the shop gave for the address, the shipping
// method and the discount code (POST /checkout/quote, asked again whenever one of them changes). The server prices
// everything again from the token's own address and refuses a total this page did not show.
//
// Every state a payment can be in has its own words and look (form[data-state]):
//   loading -> ready -> processing -> (authenticating) -> succeeded          (then the order page; a bank
//                                                                            payment says it is processing)
//                                  -> unknown                               (then the order page, which finds out)
//                                  -> declined | unavailable | error        (back to ready on the next try)
//   loading -> blocked | slow (Stripe.js failed to load, or is taking too long)
// The Pay button can't submit twice: `submitting` is set before the first await, and the button is disabled.
// Text is only ever written with textContent (never innerHTML).
const OFFLINE = "We couldn't reach the shop. Check your connection and try again.";
const RATE_LIMITED = "Too many attempts in a short time. Please wait a moment, then try again.";
const AUTH_FAILED = "Your bank couldn't confirm it's you, so nothing was charged. Please try again or use another card.";
const BLOCKED = "The secure payment form couldn't be loaded. A browser extension such as an ad blocker may be blocking it, or your connection dropped. Nothing was charged and your cart is saved: allow the payment form or check your connection, then reload this page.";
const SLOW_FORM = "The secure payment form is taking longer than usual to load. Please wait a moment; if it doesn't appear, check your connection and reload this page. Your cart is saved.";
const HINTS = {
  declined: "Your cart is saved and nothing was charged. Check the card details above or use a different card, then press Pay again.",
  unavailable: "Nothing was charged. Your cart is saved while you wait.",
  error: "",
};

const form = document.getElementById("payment-form");
const UNAVAILABLE = form.dataset.unavailableMessage; // the server's own words (app/payments/), for when it can't answer
const payButton = document.getElementById("pay-button");
const payLabel = payButton.querySelector(".label");
const message = document.getElementById("payment-message");
const hint = document.getElementById("payment-hint");
const status = document.getElementById("payment-status");
const retry = document.getElementById("payment-retry");
const emailInput = document.getElementById("email");
const PAY_TEXT = payLabel.textContent;
const SELF = document.querySelector('script[type="module"][src*="checkout"]');

const QUOTE_WAIT = "Enter your delivery address to see shipping, tax and your total.";
const summaryTotal = document.querySelector('[data-testid="checkout-total"]');
const quoteStatus = document.getElementById("quote-status");
const codeInput = document.getElementById("discount-code");
const codeMessage = document.getElementById("discount-message");
const methodInputs = [...form.querySelectorAll('input[name="shipping_method"]')];

let submitting = false;
let ready = false; // the Payment Element is mounted
let quote = null; // the signed quote for what the page shows; Pay stays off without one
let addressValue = null; // the Address Element's value, once complete
let appliedCode = "";
let quoteSequence = 0; // only the newest quote's answer is shown
let mustReview = false; // the order changed under the page: Pay stays off until the shopper reviews it
let pendingToken = null; // reused after a transient failure so the retry replays the same attempt

function setState(state) {
  form.dataset.state = state;
}

function setStatus(text, spinning = true) {
  status.textContent = "";
  if (!text) return;
  if (spinning) {
    const spinner = document.createElement("span");
    spinner.className = "spinner";
    spinner.setAttribute("aria-hidden", "true");
    status.append(spinner);
  }
  status.append(document.createTextNode(text));
}

function clearMessage() {
  message.hidden = true;
  message.textContent = "";
  hint.hidden = true;
  retry.hidden = true;
  emailInput.removeAttribute("aria-invalid");
}

// Shows a failure: its words in the alert region (announced), focus moved there so keyboard and screen reader
// users land on it, and the hint that says what to do next.
function showMessage(text, state = "error", { focus = true, retryLink = null } = {}) {
  setState(state);
  setStatus("");
  message.textContent = text;
  message.className = `payment-message${state === "unavailable" ? " payment-message-warning" : ""}`;
  message.hidden = false;
  hint.textContent = HINTS[state] || "";
  hint.hidden = !hint.textContent;
  if (retryLink) retry.textContent = retryLink;
  retry.hidden = !retryLink;
  if (focus) message.focus();
}

function canPay() {
  return ready && quote !== null && !submitting && !mustReview;
}

function setBusy(busy, label = "Processing…") {
  submitting = busy;
  payButton.disabled = !canPay();
  emailInput.readOnly = busy;
  if (paymentElement) paymentElement.update({ readOnly: busy });
  payButton.setAttribute("aria-busy", String(busy));
  payButton.querySelector(".spinner").hidden = !busy;
  payLabel.textContent = busy ? label : pendingToken ? "Try again" : payText();
}

function payText() {
  return quote ? `Pay ${form.dataset.totalShown}` : PAY_TEXT;
}

let paymentElement = null;
let addressElement = null;
let elementsGroup = null;

// Stripe.js is loaded here rather than by a <script> tag, so that a blocked or hanging script is noticed and
// explained instead of leaving the page waiting for ever.
function loadStripe() {
  return new Promise((resolve, reject) => {
    if (typeof window.Stripe === "function") return resolve(window.Stripe);
    const script = document.createElement("script");
    script.src = form.dataset.stripeJsUrl;
    if (SELF && SELF.nonce) script.nonce = SELF.nonce;
    script.addEventListener("load", () =>
      typeof window.Stripe === "function" ? resolve(window.Stripe) : reject(new Error("Stripe.js did not start")));
    script.addEventListener("error", () => reject(new Error("Stripe.js could not be loaded")));
    document.head.append(script);
  });
}

async function start() {
  const slowTimer = setTimeout(() => {
    setState("slow");
    message.textContent = SLOW_FORM;
    message.className = "payment-message payment-message-warning";
    message.hidden = false;
  }, Number(form.dataset.loadTimeout) || 15000);
  let Stripe;
  try {
    Stripe = await loadStripe();
  } catch {
    clearTimeout(slowTimer);
    document.getElementById("payment-element").textContent = "";
    showMessage(BLOCKED, "blocked", { focus: false, retryLink: "Reload this page" });
    return;
  }
  clearTimeout(slowTimer);
  if (form.dataset.state === "slow") clearMessage();
  const stripe = Stripe(form.dataset.publishableKey);
  const elements = stripe.elements({
    mode: "payment",
    amount: Number(form.dataset.amount),
    currency: form.dataset.currency,
    paymentMethodTypes: (form.dataset.paymentMethodTypes || "card").split(","),
    appearance: appearance(),
  });
  elementsGroup = elements;
  addressElement = elements.create("address", {
    mode: "shipping",
    allowedCountries: form.dataset.countries.split(","),
    fields: { phone: "always" },
    validation: { phone: { required: "never" } },
  });
  addressElement.on("change", (event) => {
    addressValue = event.complete ? event.value : null;
    if (addressValue) requestQuote();
    else forgetQuote(QUOTE_WAIT);
  });
  addressElement.mount("#address-element");
  paymentElement = elements.create("payment");
  paymentElement.on("ready", () => {
    const loading = document.querySelector("#payment-element .loading");
    if (loading) loading.remove();
    setState("ready");
    ready = true;
    payButton.disabled = !canPay();
    if (form.dataset.resumeSecret) resumeBankCheck(stripe);
  });
  paymentElement.mount("#payment-element");
  for (const input of methodInputs) input.addEventListener("change", () => requestQuote());
  document.getElementById("apply-code").addEventListener("click", () => {
    appliedCode = codeInput.value.trim();
    codeMessage.textContent = "";
    codeInput.removeAttribute("aria-invalid");
    if (addressValue) requestQuote();
    else codeMessage.textContent = appliedCode ? "Enter your delivery address and the code is applied to your total." : "";
  });
  codeInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault(); // Enter in the code field applies the code; it never pays
      document.getElementById("apply-code").click();
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submitting) return;
    if (!emailInput.checkValidity()) {
      showMessage("Please enter a valid email address for your receipt.", "error", { focus: false });
      emailInput.setAttribute("aria-invalid", "true");
      emailInput.focus();
      return;
    }
    setBusy(true);
    clearMessage();
    setState("processing");
    setStatus("Processing your payment. Please don't close this page.");
    let leaving = false;
    try {
      leaving = await pay(stripe, elements);
    } catch (error) {
      showMessage(OFFLINE, "unavailable");
    } finally {
      if (!leaving) setBusy(false);
    }
  });
}

// The page's own look, handed to the Payment Element (Stripe's Appearance API) so the card fields match it.
function appearance() {
  const css = getComputedStyle(document.documentElement);
  const value = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return {
    theme: "stripe",
    variables: {
      colorPrimary: value("--accent", "#8a3b12"),
      colorText: value("--ink", "#1d1b19"),
      colorDanger: value("--bad", "#a1221b"),
      fontFamily: getComputedStyle(document.body).fontFamily,
      borderRadius: "6px",
    },
  };
}

// A reload during the bank's check: the server found the payment still waiting for it, so reopen the check.
async function resumeBankCheck(stripe) {
  setBusy(true, "Waiting for your bank…");
  if (await bankCheck(stripe, form.dataset.resumeSecret)) leave(form.dataset.orderUrl);
  else setBusy(false);
}

async function bankCheck(stripe, clientSecret) {
  setState("authenticating");
  setStatus("Your bank wants to confirm it's you. Complete the check in the window that opened.");
  const { error } = await stripe.handleNextAction({ clientSecret });
  if (error) {
    const text = error.code === "payment_intent_authentication_failure" || !error.message ? AUTH_FAILED : error.message;
    showMessage(text, "declined");
    return false;
  }
  return true;
}

async function pay(stripe, elements) {
  let token = pendingToken;
  if (!token) {
    const { error: submitError } = await elements.submit();
    if (submitError) {
      // The Payment Element shows the field's own error beside it and announces it: saying it again here would
      // make a screen reader read it twice.
      setState("ready");
      setStatus("");
      return false;
    }
    const { error, confirmationToken } = await stripe.createConfirmationToken({ elements });
    if (error) {
      if (error.type === "api_connection_error") showMessage(UNAVAILABLE, "unavailable");
      else showMessage(error.message, error.type === "card_error" ? "declined" : "error");
      return false;
    }
    token = confirmationToken.id;
  }
  pendingToken = token; // if the answer is lost on the way back, the retry sends the same token (idempotent)
  const answer = await confirm(token);
  const { status: outcome, order_url: orderUrl, retryable } = answer.body;
  pendingToken = retryable ? token : null;
  if (outcome === "succeeded") {
    return leave(orderUrl);
  }
  if (outcome === "processing") {
    // a bank payment: taken for processing, not received yet (the order page says when it is)
    return leave(orderUrl, "Payment processing", "Your bank payment is processing. Taking you to your order…");
  }
  if (outcome === "requires_action") {
    setBusy(true, "Waiting for your bank…");
    return (await bankCheck(stripe, answer.body.client_secret)) ? leave(orderUrl) : false;
  }
  if (outcome === "unknown") {
    // Stripe may have taken the payment: never "nothing was charged". The order page finds out and says so.
    setState("unknown");
    setStatus(answer.body.message, true);
    window.location.assign(orderUrl);
    return true;
  }
  if (outcome === "failed") {
    showMessage(answer.body.error || "Your card was declined. Please try another card.", "declined");
  } else if (answer.status === 429) {
    pendingToken = token;
    // the shop's own refusal (too many unpaid orders holding stock) says why; a rate limit's does not
    showMessage(answer.body.next_url ? answer.body.error : RATE_LIMITED, "unavailable");
  } else if (retryable || answer.status >= 500) {
    showMessage(answer.body.error || UNAVAILABLE, "unavailable");
  } else if (answer.status === 409 && answer.body.summary) {
    // what would be charged changed (a price, the code, the tax): the page now shows the new total; paying
    // again needs a new press of Pay, on that total
    showQuote(answer.body.summary);
    showMessage(answer.body.error, "error");
  } else if (answer.status === 409) {
    mustReview = true;
    if (answer.body.next_url) retry.href = answer.body.next_url;
    showMessage(answer.body.error, "error", { retryLink: answer.body.next_label || "Review your order" });
  } else {
    showMessage(answer.body.error || UNAVAILABLE, "error");
  }
  return false;
}

function leave(orderUrl, label = "Payment received", text = "Payment received. Taking you to your order…") {
  setState("succeeded");
  setBusy(true, label);
  setStatus(text, false);
  window.location.assign(orderUrl);
  return true;
}

function chosenMethod() {
  const checked = methodInputs.find((input) => input.checked);
  return checked ? checked.value : "standard";
}

function forgetQuote(text) {
  quote = null;
  quoteSequence += 1; // an answer still on its way is for an address the shopper has changed
  quoteStatus.textContent = text;
  payLabel.textContent = PAY_TEXT;
  payButton.disabled = true;
}

// Asks the shop what the order costs delivered to this address with these choices; shows it and hands the new
// total to the Payment Element. An answer overtaken by a newer question is dropped.
async function requestQuote() {
  if (!addressValue || submitting) return;
  const sequence = ++quoteSequence;
  quote = null;
  payButton.disabled = true;
  quoteStatus.textContent = "Working out shipping and tax…";
  let response;
  let body;
  try {
    response = await fetch(form.dataset.quoteUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": form.dataset.csrfToken },
      body: JSON.stringify({
        attempt_id: form.dataset.attemptId,
        shipping: addressValue,
        shipping_method: chosenMethod(),
        ...(appliedCode ? { discount_code: appliedCode } : {}),
      }),
    });
    body = await response.json();
  } catch {
    if (sequence === quoteSequence) quoteStatus.textContent = OFFLINE;
    return;
  }
  if (sequence !== quoteSequence) return;
  if (response.ok) {
    showQuote(body);
    return;
  }
  if (body.field === "discount_code") {
    codeMessage.textContent = body.error;
    codeInput.setAttribute("aria-invalid", "true");
    appliedCode = "";
    requestQuote(); // the total without the code
    return;
  }
  quoteStatus.textContent = response.status === 429 ? RATE_LIMITED : body.error || UNAVAILABLE;
}

function showQuote(body) {
  quote = body.quote;
  form.dataset.attemptId = body.attempt_id;
  form.dataset.totalShown = body.shown.total;
  document.getElementById("summary-subtotal").textContent = body.shown.subtotal;
  document.getElementById("summary-shipping").textContent = body.shown.shipping;
  const discountRow = document.getElementById("summary-discount-row");
  discountRow.hidden = !body.discount;
  document.getElementById("summary-discount-code").textContent = body.code || "";
  document.getElementById("summary-discount").textContent = body.discount ? `−${body.shown.discount}` : "";
  document.getElementById("summary-tax").textContent = body.shown.tax;
  summaryTotal.textContent = body.shown.total;
  for (const rate of body.rates) {
    const price = document.querySelector(`[data-rate-price="${rate.method}"]`);
    if (price) price.textContent = rate.price;
    const window_ = document.querySelector(`[data-rate-window="${rate.method}"]`);
    if (window_) window_.textContent = rate.window;
  }
  if (appliedCode && body.code) {
    codeMessage.textContent = `Code ${body.code} applied: you save ${body.shown.discount}.`;
  }
  quoteStatus.textContent = `Total ${body.shown.total}`;
  elementsGroup.update({ amount: body.total });
  if (!submitting) {
    payLabel.textContent = pendingToken ? "Try again" : payText();
    payButton.disabled = !canPay();
  }
}

async function confirm(token) {
  const response = await fetch(form.dataset.confirmUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": form.dataset.csrfToken },
    body: JSON.stringify({
      confirmation_token: token,
      attempt_id: form.dataset.attemptId,
      email: emailInput.value.trim(),
      quote,
    }),
  });
  let body;
  try {
    body = await response.json();
  } catch {
    body = { status: "error", error: UNAVAILABLE, retryable: response.status >= 500 };
  }
  return { status: response.status, body };
}

// Back or Forward restored this page from memory: ask the server again (the order may be paid by now).
window.addEventListener("pageshow", (event) => {
  if (event.persisted) window.location.reload();
});

start();
