import { MemoryDcrCredentialStore } from "../../src/stores/memory/dcr-credential-store.js";
import { describeDcrStoreContract } from "./dcr-store.contract.js";

describeDcrStoreContract("memory", async () => ({ store: new MemoryDcrCredentialStore() }));
