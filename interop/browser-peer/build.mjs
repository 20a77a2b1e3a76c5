// Bundles page.js and its pinned npm packages into page.bundle.js for the browser.
import { build } from "esbuild";
await build({
  entryPoints: ["page.js"],
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "chrome120",
  outfile: "page.bundle.js",
  logLevel: "warning",
});
