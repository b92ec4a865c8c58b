// Checkout: the Payment Element in deferred-intent mode. Card data stays in Stripe's iframe; this page only
// ever sees a ConfirmationToken id, which it sends to /checkout/confirm with the checkout attempt id.
//
// Every state a payment can be in has its own words and look (form[data-state]):
//   loading -> ready -> processing -> (authenticating) -> succeeded          (then the order page)
//                                  -> declined | unavailable | error        (back to ready on the next try)
// The Pay button can't submit twice: `submitting` is set before the first await, and the button is disabled.
// Text is only ever written with textContent (never innerHTML).
const OFFLINE = "We couldn't reach the shop. Check your connection and try again.";
const RATE_LIMITED = "Too many attempts in a short time. Please wait a moment, then try again.";
const AUTH_FAILED = "Your bank couldn't confirm it's you, so nothing was charged. Please try again or use another card.";
const HINTS = {
  declined: "Your cart is saved and nothing was charged. Check the card details above or use a different card, then press Pay again.",
  unavailable: "Nothing was charged. Your order and cart are kept while you wait.",
  error: "",
};

const form = document.getElementById("payment-form");
const UNAVAILABLE = form.dataset.unavailableMessage; // the server's own words (app/payments.py), for when it can't answer
const payButton = document.getElementById("pay-button");
const payLabel = payButton.querySelector(".label");
const message = document.getElementById("payment-message");
const hint = document.getElementById("payment-hint");
const status = document.getElementById("payment-status");
const retry = document.getElementById("payment-retry");
const emailInput = document.getElementById("email");
const PAY_TEXT = payLabel.textContent;

let submitting = false;
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

function setBusy(busy, label = "Processing…") {
  submitting = busy;
  payButton.disabled = busy;
  payButton.setAttribute("aria-busy", String(busy));
  payButton.querySelector(".spinner").hidden = !busy;
  payLabel.textContent = busy ? label : pendingToken ? "Try again" : PAY_TEXT;
}

function start() {
  if (typeof window.Stripe !== "function") {
    document.getElementById("payment-element").textContent = "";
    showMessage(UNAVAILABLE, "unavailable", { focus: false, retryLink: "Try again" });
    return;
  }
  const stripe = window.Stripe(form.dataset.publishableKey);
  const elements = stripe.elements({
    mode: "payment",
    amount: Number(form.dataset.amount),
    currency: form.dataset.currency,
  });
  const paymentElement = elements.create("payment");
  paymentElement.on("ready", () => {
    const loading = document.querySelector("#payment-element .loading");
    if (loading) loading.remove();
    setState("ready");
    payButton.disabled = false;
  });
  paymentElement.mount("#payment-element");

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

async function pay(stripe, elements) {
  let token = pendingToken;
  if (!token) {
    const { error: submitError } = await elements.submit();
    if (submitError) {
      showMessage(submitError.message || "Please check your card details.", "error");
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
  if (outcome === "succeeded" || outcome === "processing") {
    return leave(orderUrl);
  }
  if (outcome === "requires_action") {
    setState("authenticating");
    setBusy(true, "Waiting for your bank…");
    setStatus("Your bank wants to confirm it's you. Complete the check in the window that opened.");
    const { error } = await stripe.handleNextAction({ clientSecret: answer.body.client_secret });
    if (error) {
      const text = error.code === "payment_intent_authentication_failure" || !error.message ? AUTH_FAILED : error.message;
      showMessage(text, "declined");
      return false;
    }
    return leave(orderUrl);
  }
  if (outcome === "failed") {
    showMessage(answer.body.error || "Your card was declined. Please try another card.", "declined");
  } else if (answer.status === 429) {
    pendingToken = token;
    showMessage(RATE_LIMITED, "unavailable");
  } else if (retryable || answer.status >= 500) {
    showMessage(answer.body.error || UNAVAILABLE, "unavailable");
  } else if (answer.status === 409) {
    showMessage(answer.body.error, "error", { retryLink: "Review your order" });
  } else {
    showMessage(answer.body.error || UNAVAILABLE, "error");
  }
  return false;
}

function leave(orderUrl) {
  setState("succeeded");
  setBusy(true, "Payment received");
  setStatus("Payment received. Taking you to your order…", false);
  window.location.assign(orderUrl);
  return true;
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

start();
