/* Stripe's Appearance API inside an Element's iframe (the Payment and Address Elements share it):
 * window.EmuAppearance.apply(appearance). */
(function () {
  'use strict';
  // Stripe's Appearance API, the part the emulator honours: a theme and some variables, each set as a
  // CSS custom property of the same name on <html> (never as markup). Values are checked first.
  var THEMES = ['stripe', 'night', 'flat'];
  var LENGTH = /^(0|\d*\.?\d+(px|rem|em))$/;
  function cssOk(property) {
    return function (value) { return !!(window.CSS && CSS.supports(property, value)); };
  }
  function lengthOk(value) { return LENGTH.test(value); }
  var VARIABLES = {
    colorPrimary: cssOk('color'),
    colorBackground: cssOk('color'),
    colorText: cssOk('color'),
    colorTextSecondary: cssOk('color'),
    colorDanger: cssOk('color'),
    fontFamily: cssOk('font-family'),
    fontSizeBase: lengthOk,
    spacingUnit: lengthOk,
    borderRadius: lengthOk,
    focusBoxShadow: cssOk('box-shadow')
  };
  // Anything that could leave the value, load something or run something is refused outright.
  // (Quotes stay allowed: font families need them.)
  var HOSTILE = /[;{}<>\\`\u0000-\u001f\u007f]|url\s*\(|image(-set)?\s*\(|expression|javascript:|@import/i;

  function warn(message) {
    if (window.console && console.warn) { console.warn('[stripe-emulator] ' + message); }
  }

  function safeValue(name, value) {
    if (typeof value !== 'string' || !value.trim() || value.length > 200 || HOSTILE.test(value)) { return null; }
    return VARIABLES[name](value.trim()) ? value.trim() : null;
  }

  function applyAppearance(appearance) {
    var root = document.documentElement;
    appearance = appearance && typeof appearance === 'object' ? appearance : {};
    Object.keys(VARIABLES).forEach(function (name) { root.style.removeProperty('--' + name); });
    var theme = appearance.theme === undefined ? 'stripe' : appearance.theme;
    if (THEMES.indexOf(theme) < 0) {
      warn('Invalid value for appearance.theme: "' + String(theme).slice(0, 40) + '". Expected one of ' +
           THEMES.join(', ') + '; using "stripe".');
      theme = 'stripe';
    }
    root.setAttribute('data-theme', theme);
    Object.keys(appearance).forEach(function (key) {
      if (key !== 'theme' && key !== 'variables') {
        warn('appearance.' + key + ' is not supported by stripe-emulator and was ignored.');
      }
    });
    var variables = appearance.variables && typeof appearance.variables === 'object' ? appearance.variables : {};
    Object.keys(variables).forEach(function (name) {
      if (!Object.prototype.hasOwnProperty.call(VARIABLES, name)) {
        warn('Unrecognized appearance.variables parameter: ' + name.slice(0, 40) +
             ' is not supported by stripe-emulator and was ignored.');
        return;
      }
      var value = safeValue(name, variables[name]);
      if (value === null) {
        warn('Invalid value for appearance.variables.' + name + '; it was ignored.');
        return;
      }
      root.style.setProperty('--' + name, value);
    });
    root.setAttribute('data-appearance-applied', String(Number(root.getAttribute('data-appearance-applied') || 0) + 1));
  }

  window.EmuAppearance = { apply: applyAppearance };
}());
