// Placeholder: this view is being built.
import { h, pageHeader } from "../lib/dom.js";

export async function render(main) {
  main.append(pageHeader("Clients"), h("p", { class: "muted" }, "This view is not built yet."));
}
