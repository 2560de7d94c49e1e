#pragma once
// Placeholder: filled in by the preprocessing work (decode with setjmp-based error handling).
int ffjpeg_placeholder(void);
