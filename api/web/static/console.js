// MLA console: a few enhancements over server-rendered pages; everything works without them.
(function () {
  "use strict";

  // Deadline countdowns, from the instant in each <time class="countdown" datetime="...">,
  // in the page's language: the server's words, in <body data-countdown>.
  var words = {"in": "in {time}", "over": "overdue by {time}", "d": "{n} d", "h": "{n} h", "min": "{n} min"};
  try { words = JSON.parse(document.body.getAttribute("data-countdown")) || words; } catch (e) { /* keep English */ }
  function say(key, values) {
    return words[key].replace(/\{(\w+)\}/g, function (_, name) { return values[name]; });
  }
  function countdown(due) {
    var seconds = Math.round((due - Date.now()) / 1000);
    var past = seconds < 0;
    seconds = Math.abs(seconds);
    var days = Math.floor(seconds / 86400), hours = Math.floor((seconds % 86400) / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var d = say("d", {n: days}), h = say("h", {n: hours}), m = say("min", {n: minutes});
    var text = days ? d + " " + h : hours ? h + " " + m : m;
    return say(past ? "over" : "in", {time: text});
  }
  function tick() {
    document.querySelectorAll("time.countdown[datetime]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(due)) { el.textContent = countdown(due); }
    });
  }
  tick();
  setInterval(tick, 30000);

  // List fields: "Add" clones the blank row in the page instead of a round trip to the server;
  // "Remove" drops a row. Indices only need to be distinct: the server renumbers them.
  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add]");
    if (add) {
      var list = add.closest("[data-list]");
      var template = list && list.querySelector(":scope > template");
      if (!template) { return; }
      event.preventDefault();
      var index = parseInt(list.getAttribute("data-next"), 10) || 0;
      list.setAttribute("data-next", String(index + 1));
      var placeholder = list.getAttribute("data-placeholder");
      var html = template.innerHTML.split(placeholder).join(String(index));
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var row = holder.firstElementChild;
      list.querySelector(":scope > .items").appendChild(row);
      var first = row.querySelector("input:not([type=hidden]), select, textarea");
      if (first) { first.focus(); }
      return;
    }
    var remove = event.target.closest("[data-remove]");
    if (remove) {
      var item = remove.closest(".item");
      var owner = item && item.closest("[data-list]");
      if (!item || !owner) { return; }
      event.preventDefault();
      item.remove();
      var next = owner.querySelector(":scope > [data-add]");
      if (next) { next.focus(); }
    }
  });

  // A problem's link in the summary takes the focus to its field (a fragment link alone only
  // scrolls), so that typing goes where the problem is; a group's first field for a group.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("#error-summary a[href^='#'], #profile-findings a[href^='#']");
    var target = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!target) { return; }
    var field = target.matches("input, select, textarea") ? target :
      target.querySelector("input:not([type=hidden]), select, textarea");
    if (!field) { return; }
    event.preventDefault();
    field.focus();
    field.scrollIntoView({block: "center"});
  });

  // After a refused form (a failed save, a refused action, a wrong code), take keyboard and
  // screen-reader users to what went wrong: read out at once, and the next Tab goes on from
  // there. A role="alert" present at load is not announced by every screen reader.
  var problem = document.getElementById("error-summary") ||
    document.querySelector("main .alert-error[role=alert]");
  if (problem) {
    if (!problem.hasAttribute("tabindex")) { problem.setAttribute("tabindex", "-1"); }
    problem.focus();
  }
})();
