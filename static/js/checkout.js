// Checkout: the Payment Element in deferred-intent mode. Card data stays in Stripe's iframe; this page only
// ever sees a ConfirmationToken id, which it sends to /checkout/confirm with the checkout attempt id.
const UNAVAILABLE = "Payments are temporarily unavailable. Your cart is saved — try again in a minute.";
const OFFLINE = "We couldn't reach the shop. Check your connection and try again.";

const form = document.getElementById("payment-form");
const payButton = document.getElementById("pay-button");
const message = document.getElementById("payment-message");
const emailInput = document.getElementById("email");
const payLabel = payButton.querySelector(".label").textContent;

let submitting = false;
let pendingToken = null; // reused after a transient failure so the retry replays the same attempt

function showMessage(text, kind = "error") {
  message.textContent = text;
  message.className = `payment-message payment-message-${kind}`;
  message.hidden = false;
  message.focus();
}

function setBusy(busy, label = "Processing…") {
  submitting = busy;
  payButton.disabled = busy;
  payButton.setAttribute("aria-busy", String(busy));
  payButton.querySelector(".spinner").hidden = !busy;
  payButton.querySelector(".label").textContent = busy ? label : payLabel;
}

function start() {
  if (typeof window.Stripe !== "function") {
    document.getElementById("payment-element").textContent = "";
    showMessage(UNAVAILABLE);
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
    payButton.disabled = false;
  });
  paymentElement.mount("#payment-element");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submitting) return;
    if (!emailInput.checkValidity()) {
      showMessage("Please enter a valid email address for your receipt.");
      emailInput.focus();
      return;
    }
    setBusy(true);
    message.hidden = true;
    let leaving = false;
    try {
      leaving = await pay(stripe, elements);
    } catch (error) {
      showMessage(OFFLINE);
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
      showMessage(submitError.message);
      return false;
    }
    const { error, confirmationToken } = await stripe.createConfirmationToken({ elements });
    if (error) {
      showMessage(error.type === "api_connection_error" ? UNAVAILABLE : error.message);
      return false;
    }
    token = confirmationToken.id;
  }
  const answer = await confirm(token);
  pendingToken = answer.body.retryable ? token : null;
  const { status, order_url: orderUrl } = answer.body;
  if (status === "succeeded" || status === "processing") {
    setBusy(true, "Payment received");
    window.location.assign(orderUrl);
    return true;
  }
  if (status === "requires_action") {
    setBusy(true, "Waiting for your bank…");
    const { error } = await stripe.handleNextAction({ clientSecret: answer.body.client_secret });
    if (error) {
      showMessage(error.message || "We couldn't verify your card. Please try again or use another card.");
      return false;
    }
    window.location.assign(orderUrl);
    return true;
  }
  showMessage(answer.body.error || UNAVAILABLE);
  if (answer.body.retryable) payButton.querySelector(".label").textContent = "Try again";
  return false;
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
