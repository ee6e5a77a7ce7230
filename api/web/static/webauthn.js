// Security keys (WebAuthn) in the console: buttons marked data-webauthn ask the server for
// options, the browser for the key's answer, and send it back as a form with the page's CSRF
// token. The pages work without it for every other way to log in.
(function () {
  "use strict";

  async function post(url, fields) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" },
      body: new URLSearchParams(fields),
    });
    const body = await response.json().catch(function () { return {}; });
    if (!response.ok) { throw new Error(body.detail || response.statusText); }
    return body;
  }

  async function run(button) {
    const status = document.getElementById(button.dataset.status);
    const csrf = button.dataset.csrf;
    const say = function (text, failed) {
      status.textContent = text;
      status.className = failed ? "alert-error" : "flash";
    };
    if (!window.PublicKeyCredential) { say("This browser cannot use security keys.", true); return; }
    button.disabled = true;
    try {
      const options = await post(button.dataset.options, { csrf_token: csrf });
      let credential;
      if (button.dataset.webauthn === "register") {
        credential = await navigator.credentials.create({
          publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
        });
      } else {
        credential = await navigator.credentials.get({
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options),
        });
      }
      const done = await post(button.dataset.finish, {
        csrf_token: csrf, credential: JSON.stringify(credential.toJSON()),
        next: button.dataset.next || "",
      });
      say(done.message || "Done.", false);
      if (done.next) { window.location.assign(done.next); }
    } catch (error) {
      say((error && error.message) || "The security key did not answer.", true);
    } finally {
      button.disabled = false;
    }
  }

  document.querySelectorAll("button[data-webauthn]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { run(button); });
  });
})();
