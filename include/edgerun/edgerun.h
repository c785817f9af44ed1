// Umbrella header for the edgerun public API.
#pragma once
#include "edgerun/compress.h"
#include "edgerun/error.h"
#include "edgerun/session.h"
#include "edgerun/tensor.h"
