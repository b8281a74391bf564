// A shim header: a modulemap `header "zmq.h"` would be looked up next to the modulemap, not on the include path.
#include <zmq.h>
