import { navigation } from "./common.js";

navigation();
if (document.body.dataset.role !== "admin") {
  for (const node of document.querySelectorAll(".admin-only")) node.hidden = true;
}
