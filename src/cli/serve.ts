// tollgate serve: the server exactly as `make run` starts it (same configuration, exit codes
// and signal handling).
export { serve } from "../server/serve.js";
