// Optional: adds a Copy button next to read-only inputs marked data-copy. The
// page works without it (select the text and copy it).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input[data-copy]").forEach(function (input) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy the link");
    var status = document.createElement("span");
    status.setAttribute("role", "status");
    button.addEventListener("click", function () {
      input.select();
      var done = function () { status.textContent = "Copied."; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () { status.textContent = "Select the link and copy it."; });
      } else {
        status.textContent = document.execCommand("copy") ? "Copied." : "Select the link and copy it.";
      }
    });
    input.after(button, status);
  });
});
