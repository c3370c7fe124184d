// Placeholder: this view is being built.
import { h, pageHeader } from "../lib/dom.js";

export async function render(main) {
  main.append(pageHeader("Logs"), h("p", { class: "muted" }, "This view is not built yet."));
}
