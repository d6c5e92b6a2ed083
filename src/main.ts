import { serve } from "./server/serve.js";

void serve();
