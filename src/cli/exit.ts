// SPDX-License-Identifier: Apache-2.0
// Exit codes of the `peregrine` command, in one place (README "Using it" lists them).

/** Done, and (for `run` and `status`) every sensor the agent needed was running. */
export const EXIT_OK = 0;
/** An error: a bad argument or file, an agent that cannot start (its process sensor did not load), a failed request. */
export const EXIT_ERROR = 1;
/** An unknown command. */
export const EXIT_USAGE = 2;
/** `run` ended (SIGINT/SIGTERM) after a run in which a sensor had failed; `status`: the running agent is degraded. */
export const EXIT_DEGRADED = 3;
