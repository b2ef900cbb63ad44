/* select2 in the page's language.

   Flask-AppBuilder vendors select2 4.0 with its English messages only ("Remove all items",
   "No results found", ...) and starts its selects with an English placeholder ("Select a
   State") in ab.js. The page shell loads this file right after select2 with the messages,
   translated on the server, in its data-texts attribute: they become select2's default
   language, and ab.js's English placeholders are swapped for the translated one.
   No network access, no select2 language files from a CDN. */
(function ($) {
  "use strict";
  var script = document.currentScript;
  if (!$ || !$.fn || !$.fn.select2 || !script || !script.dataset.texts) {
    return;
  }
  var texts = JSON.parse(script.dataset.texts);
  var constant = function (key) {
    return function () {
      return texts[key];
    };
  };
  $.fn.select2.defaults.set("language", {
    errorLoading: constant("errorLoading"),
    inputTooLong: constant("inputTooLong"),
    inputTooShort: constant("inputTooShort"),
    loadingMore: constant("loadingMore"),
    maximumSelected: constant("maximumSelected"),
    noResults: constant("noResults"),
    searching: constant("searching"),
    removeAllItems: constant("removeAllItems"),
    removeItem: constant("removeItem"),
    search: constant("search")
  });

  var ENGLISH_PLACEHOLDERS = ["Select a State", "Select"];
  var original = $.fn.select2;
  var localized = function (options) {
    if (options && typeof options === "object" && ENGLISH_PLACEHOLDERS.indexOf(options.placeholder) !== -1) {
      options = $.extend({}, options, { placeholder: texts.placeholder });
      return original.apply(this, [options].concat(Array.prototype.slice.call(arguments, 1)));
    }
    return original.apply(this, arguments);
  };
  // select2 keeps its defaults and AMD loader on the plugin function itself.
  $.extend(localized, original);
  $.fn.select2 = localized;
})(window.jQuery);
