// The template page: forms marked `data-confirm` (delete the template, delete a schedule) ask
// in a dialog first. Without this module the server answers such a POST with a confirmation
// page instead: the form's hidden `confirm` field is what says "already asked".

for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    form.querySelector("input[name=confirm]").value = "yes";
  });
}
