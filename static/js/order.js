// The order page polls the shop's own status endpoint until the order settles.
const section = document.getElementById("order-status");
const text = section.querySelector(".status-text");
const steps = section.querySelectorAll(".timeline li");
const WORDS = {
  pending: "Confirming your payment…",
  paid: "Payment received. We're preparing your order.",
  fulfilled: "Your order is fulfilled. A receipt is on its way.",
  payment_failed: "Your payment didn't go through. Nothing was charged.",
  refunded: "This order was refunded.",
  canceled: "This order was canceled.",
};
const SETTLED = new Set(["fulfilled", "payment_failed", "refunded", "canceled"]);
const PROGRESS = { pending: 1, paid: 2, fulfilled: 3, refunded: 3 };

function render(state) {
  section.dataset.state = state;
  text.textContent = WORDS[state] || state;
  steps.forEach((step, index) => step.classList.toggle("done", index < (PROGRESS[state] || 0)));
}

async function poll(delay) {
  if (SETTLED.has(section.dataset.state)) return;
  try {
    const response = await fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" } });
    if (response.ok) render((await response.json()).state);
  } catch {
    // a missed poll is retried below
  }
  setTimeout(() => poll(Math.min(delay * 1.5, 5000)), delay);
}

poll(500);
