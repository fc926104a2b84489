// The install frame's one step: tell Bitrix24 the installation is finished. A file of its
// own, not an inline script, so that the page's CSP allows no inline scripts at all.
if (window.BX24) {
  BX24.init(function () {
    BX24.installFinish();
  });
}
