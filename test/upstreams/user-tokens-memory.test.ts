import { MemoryUpstreamTokenStore } from "../../src/stores/memory/upstream-token-store.js";
import { describeUpstreamTokenStoreContract } from "./user-tokens.contract.js";

describeUpstreamTokenStoreContract("memory", async () => ({ store: new MemoryUpstreamTokenStore() }));
