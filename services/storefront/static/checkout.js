// The payment step: Stripe's payment element and confirmPayment (Stripe.js in production, the
// emulator's compatible subset locally). On success the form posts to /checkout/complete, which
// turns the cart into the order; a decline is shown in words and the customer tries again.
(function () {
  "use strict";
  var form = document.getElementById("payment-form");
  if (!form || typeof Stripe !== "function") return;
  var stripe = Stripe(form.dataset.pk);
  var elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  var element = elements.create("payment");
  element.mount("#payment-element");
  var button = document.getElementById("pay-button");
  var label = button.textContent;
  var errorBox = document.getElementById("payment-error");
  var paying = false;
  function fail(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    button.disabled = false;
    button.textContent = label;
    paying = false;
  }
  form.addEventListener("submit", function (event) {
    if (form.dataset.confirmed === "yes") return;
    event.preventDefault();
    if (paying) return;
    paying = true;
    errorBox.hidden = true;
    button.disabled = true;
    button.textContent = "Paying…";
    stripe.confirmPayment({
      elements: elements,
      confirmParams: { return_url: form.dataset.returnUrl },
      redirect: "if_required"
    }).then(function (result) {
      if (result.error) {
        fail(result.error.message || "The payment did not go through. Please try again.");
        return;
      }
      var pi = result.paymentIntent;
      if (pi.status === "requires_payment_method") {
        fail("The payment did not go through. Please try another card.");
        return;
      }
      form.dataset.confirmed = "yes";
      form.querySelector("[name=payment_intent]").value = pi.id;
      button.textContent = "Finishing your order…";
      form.submit();
    }, function () {
      fail("We could not reach the payment service. Please check your connection and try again.");
    });
  });
})();
