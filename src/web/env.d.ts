/** Stylesheets are imported for esbuild, which emits them as main-HASH.css (src/web/build.ts). */
declare module "*.css";
