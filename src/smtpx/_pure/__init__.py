"""Pure-Python kernels: the specification that smtpx._core copies for speed."""
