// Registers module hooks that write "module-load <url>" to stderr for every module loaded
// (ESM and, through the hooks, CommonJS required from ESM). Used with `node --import` to check
// which modules a command keeps resident (test/integration/serve-at-rest.test.ts).
import { register } from "node:module";

register("data:text/javascript," + encodeURIComponent(`
export async function load(url, context, next) {
  const result = await next(url, context);
  if (!url.startsWith("node:")) process.stderr.write("module-load " + url + "\\n");
  return result;
}`));
