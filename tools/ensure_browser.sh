#!/usr/bin/env bash
# Make sure Debian's chromium (and a Chinese font for the screenshots) is there for the browser
# tests (tests/e2e, marker `browser`).
# Under CI it is required: install it when missing. Elsewhere the browser tests are skipped
# without it (PAIGONG_INSTALL_BROWSER=1 installs it here too). Never downloads browsers itself.
set -u
BROWSER=/usr/bin/chromium
have_fonts() { fc-list :lang=zh 2>/dev/null | grep -q .; }  # screenshots need a Chinese font
[ -x "$BROWSER" ] && have_fonts && exit 0
if [ "${CI:-}" != "true" ] && [ "${PAIGONG_INSTALL_BROWSER:-}" != "1" ]; then
  [ -x "$BROWSER" ] || echo "注意: 未找到 $BROWSER，浏览器测试将被跳过 (CI=true 时为必需)。"
  exit 0
fi
echo "==> 安装 chromium 和中文字体"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
if [ ! -x "$BROWSER" ]; then echo "chromium 安装失败" >&2; exit 1; fi
exit 0
