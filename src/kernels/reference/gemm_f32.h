// Cache-blocked single-precision matrix multiply shared by MatMul, Gemm and the convolutions.
#pragma once
#include <cstddef>
#include <cstdint>

namespace edgerun {

// A strided matrix operand: element (r, c) lives at data[r * row_stride + c * col_stride].
// A transposed operand is the same memory with the two strides swapped.
struct MatrixRef {
  const float* data;
  int64_t row_stride;
  int64_t col_stride;
};

// Bytes of workspace gemm_f32 needs for an M x N x K product (packed panels of A and B).
size_t gemm_f32_workspace_bytes(int64_t M, int64_t N, int64_t K);

// C = alpha * A * B + beta * C, where A is M x K, B is K x N and C is row-major M x N with row stride ldc.
// When beta == 0, C is not read. `workspace` must hold gemm_f32_workspace_bytes(M, N, K) bytes,
// aligned to 64 bytes.
void gemm_f32(int64_t M, int64_t N, int64_t K, float alpha, MatrixRef A, MatrixRef B, float beta, float* C,
              int64_t ldc, void* workspace);

}  // namespace edgerun
