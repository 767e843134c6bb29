/* What relay_load can run; each prints one JSON object on stdout and returns 0, or 1 when
 * it could not run. */
#ifndef SCENARIOS_H
#define SCENARIOS_H

#include "load.h"

int scenario_load(run *r, int publishers, int subscribers, int threads);
int scenario_idle(run *r, int connections, int threads);
int scenario_catchup(run *r, int devices, int threads);

#endif
