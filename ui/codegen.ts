// Types for every operation, generated from the schema wharf commits: an operation the
// schema no longer allows fails `npm run build`.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../schema.graphql",
  documents: ["src/**/*.ts", "src/**/*.tsx", "!src/gql/**/*"],
  generates: {
    "./src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        // wharf's 64-bit scalars travel as JSON numbers (exact up to 2^53 - 1).
        scalars: {
          Long: "number",
          Timestamp: "number",
          ChainId: "number",
          Upload: "File",
        },
      },
    },
  },
  silent: true,
};
export default config;
