// The order page polls the shop's own status endpoint until the order settles, and shows what the server says:
// the headline, the next steps, the payment line and the timeline all come from one answer (app/orders/status.py),
// so they never disagree. A late webhook is normal: while the payment is being confirmed the page keeps polling
// and, after a while, says so. A failed poll is never shown as an error; it is retried.
const section = document.getElementById("order-status");
const text = section.querySelector(".status-text");
const next = section.querySelector(".next-steps");
const payment = document.querySelector('[data-testid="payment-state"]');
const badge = document.querySelector('[data-testid="cart-count"]');
const SLOW_AFTER = Number(section.dataset.slowAfter) || 20000;
const SLOW = [section.dataset.slowHeadline, section.dataset.slowDetail]; // the server's words (app/orders/status.py)
const CONFIRMING = new Set(["confirming", "unknown"]);
const started = Date.now();
let slow = false;

function say(headline, detail) {
  if (text.textContent !== headline) text.textContent = headline;
  if (next.textContent !== detail) next.textContent = detail;
}

function render(status) {
  if (status.key !== section.dataset.status && (status.key === "failed" || status.key === "authenticating"
      || status.key === "not_charged" || status.key === "refunded" || status.key === "canceled")) {
    window.location.reload(); // these carry actions of their own: let the server draw the page
    return;
  }
  section.dataset.status = status.key;
  section.dataset.settled = String(status.settled);
  if (!(slow && CONFIRMING.has(status.key))) say(status.headline, status.detail);
  if (payment) payment.textContent = status.payment;
  const steps = section.querySelectorAll(".timeline li");
  status.steps.forEach(([label, how], index) => {
    const step = steps[index];
    if (!step) return;
    step.className = how;
    step.firstChild.textContent = label;
    const sr = step.querySelector(".visually-hidden");
    if (sr) sr.textContent = { done: ": done", current: ": in progress" }[how] ?? (how ? "" : ": not yet");
  });
}

function checkSlow() {
  if (!slow && CONFIRMING.has(section.dataset.status) && Date.now() - started >= SLOW_AFTER) {
    slow = true;
    section.classList.add("slow");
    say(...SLOW);
  }
}

async function poll(delay) {
  if (section.dataset.settled === "true") return;
  try {
    const response = await fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" } });
    if (response.ok) {
      const answer = await response.json();
      if (badge && String(answer.cart_count) !== badge.textContent) badge.textContent = String(answer.cart_count);
      render(answer.status);
    }
  } catch {
    // a missed poll is retried below
  }
  checkSlow();
  setTimeout(() => poll(Math.min(delay * 1.5, slow ? 10000 : 5000)), delay);
}

const printButton = document.getElementById("print-receipt");
if (printButton) printButton.addEventListener("click", () => window.print());

poll(500);
