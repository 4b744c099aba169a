/* A plugin built for another ABI version: the edge must refuse it. */
int edgecam_policy_abi = 999;
int edgecam_policy_decide(void) { return 0; }
