'use strict';
// The whole of one survey answered with the keyboard alone: Tab, Shift+Tab,
// Space, Enter, arrow keys and typing. No clicks, no fill() or check(): the
// page state is only read, to decide which key to press next and to assert.
//
// The survey is format_example (every question type: radios, checkboxes,
// a Likert group, the area select, a number, a date and a text box), in the
// carer_self voice, which sees every one of its pages. Along the way it
// asserts:
//   - the first Tab reaches the skip link, and the skip link works;
//   - every element that takes focus shows it (NHS.UK yellow focus style);
//   - after Continue with nothing answered, the error summary has focus,
//     and its link takes focus to the field to fix;
//   - Shift+Tab goes back through the fields in order;
//   - a "Change" link on check answers works from the keyboard;
//   - the journey ends on the confirmation page with a reference.

const lib = require('./lib');

const { url, pathOf, assert, fail, table } = lib;

const SURVEY = process.env.KEYBOARD_SURVEY || 'format_example';
const VOICE = process.env.KEYBOARD_VOICE || 'carer_self';

const log = [];
const focusProblems = [];
let keyPresses = 0;
let focusChecks = 0;

/** What has focus, and whether it visibly shows it. */
async function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { tag: 'body', className: '', text: '', visible: false };
    // Focus is visible when the element (or, for NHS.UK radios and
    // checkboxes, whose inputs are invisible, the label's ::before box)
    // looks different focused and not: compare, then put focus back.
    const box = el.type === 'radio' || el.type === 'checkbox' ? document.querySelector(`label[for="${CSS.escape(el.id)}"]`) : null;
    const props = ['outline-style', 'outline-width', 'outline-color', 'box-shadow', 'background-color', 'color', 'border-color', 'text-decoration-line'];
    const look = () => {
      const st = box ? getComputedStyle(box, '::before') : getComputedStyle(el);
      return props.map((p) => st.getPropertyValue(p)).join('|');
    };
    const focusedLook = look();
    el.blur();
    const blurredLook = look();
    el.focus();
    const visible = focusedLook !== blurredLook;
    const label = el.labels && el.labels[0] ? el.labels[0].textContent.trim() : '';
    return {
      tag: el.tagName.toLowerCase(),
      type: el.type || null,
      id: el.id || null,
      name: el.name || null,
      href: el.getAttribute('href'),
      className: typeof el.className === 'string' ? el.className : '',
      text: (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 60),
      label,
      value: el.value === undefined ? null : el.value,
      checked: el.checked === undefined ? null : el.checked,
      visible,
    };
  });
}

function describe(f) {
  return `<${f.tag}${f.type ? ` type=${f.type}` : ''}${f.id ? ` #${f.id}` : ''}${f.href ? ` href=${f.href}` : ''}> ${f.label || f.text}`;
}

async function press(page, key) {
  keyPresses++;
  await page.keyboard.press(key);
  const f = await focused(page);
  if (f.tag !== 'body' && !f.visible && !f.className.includes('nhsuk-error-summary')) {
    focusProblems.push(`${pathOf(page)}: ${describe(f)} has focus but shows no focus indicator`);
  }
  focusChecks++;
  return f;
}

/**
 * Presses Tab (or Shift+Tab) until `want(focused)` holds, unless it already
 * does; fails after 80 presses.
 */
async function tabTo(page, want, what, key = 'Tab') {
  const now = await focused(page);
  if (now.tag !== 'body' && want(now)) return now;
  for (let i = 0; i < 80; i++) {
    const f = await press(page, key);
    if (want(f)) return f;
  }
  fail(`${pathOf(page)}: pressed ${key} 80 times without reaching ${what}`);
  return null;
}

/** Presses a key that should load a new page (Enter on a link or button). */
async function pressAndWait(page, key, what) {
  keyPresses++;
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press(key)]);
  assert(response && response.status() === 200, `${what}: ${response && response.status()} at ${pathOf(page)}`);
  log.push([pathOf(page), what]);
}

const isContinue = (f) => f.tag === 'button' && f.type === 'submit';

/** The question on the page, read (not touched) to decide which keys to press. */
async function question(page) {
  return page.evaluate(() => {
    const form = document.querySelector('main form');
    const fieldsets = [...form.querySelectorAll('fieldset')].filter((f) => f.querySelector('input[type=radio],input[type=checkbox]'));
    if (form.querySelector('.nhsuk-date-input')) {
      return { kind: 'date', fields: [...form.querySelectorAll('.nhsuk-date-input input')].map((i) => i.id) };
    }
    if (form.querySelector('input[type=checkbox]')) {
      const items = [...form.querySelector('.nhsuk-checkboxes').children];
      const divider = items.findIndex((c) => c.matches('.nhsuk-checkboxes__divider'));
      const boxes = items
        .map((c, i) => ({ c, i }))
        .filter(({ c }) => c.matches('.nhsuk-checkboxes__item'))
        .map(({ c, i }) => ({ id: c.querySelector('input').id, exclusive: divider >= 0 && i > divider }));
      return { kind: 'checkboxes', fields: boxes.map((b) => b.id), boxes };
    }
    if (fieldsets.length) {
      return {
        kind: 'radios',
        groups: fieldsets.map((fs) => ({
          name: fs.querySelector('input[type=radio]').name,
          options: [...fs.querySelectorAll('input[type=radio]')].map((i) => ({ id: i.id, value: i.value })),
        })),
      };
    }
    const select = form.querySelector('select');
    if (select) return { kind: 'select', fields: [select.id] };
    const field = form.querySelector('textarea, input.nhsuk-input');
    return { kind: field.tagName === 'TEXTAREA' ? 'textarea' : field.closest('.nhsuk-input-wrapper') ? 'number' : 'text', fields: [field.id] };
  });
}

/** The voice page's option for VOICE, from the definition (see journey.js). */
function voiceOption(survey) {
  const { voiceCodes } = require('./journey');
  return voiceCodes(survey)[VOICE];
}

/**
 * Answers the question with keys alone. Radios: Tab into the group lands
 * on its first option; Space selects it; arrow keys move and select.
 */
async function answer(page, q, choice) {
  switch (q.kind) {
    case 'radios': {
      for (const group of q.groups) {
        const wanted = group === q.groups[0] && choice.radio ? choice.radio : group.options[0].value;
        let f = await tabTo(page, (x) => x.type === 'radio' && x.name === group.name, `the ${group.name} radios`);
        if (!f.checked) f = await press(page, 'Space');
        for (let i = 0; f.value !== wanted; i++) {
          assert(i < group.options.length, `arrow keys never reached ${wanted} in ${group.name}`);
          f = await press(page, 'ArrowDown');
        }
        assert(f.checked && f.value === wanted, `${group.name}: ${wanted} not selected from the keyboard`);
      }
      return;
    }
    case 'checkboxes':
      for (const box of q.boxes.filter((b) => !b.exclusive)) {
        await tabTo(page, (x) => x.id === box.id, `checkbox ${box.id}`);
        const f = await press(page, 'Space');
        assert(f.checked, `Space did not tick ${box.id}`);
      }
      return;
    case 'select': {
      await tabTo(page, (x) => x.id === q.fields[0], 'the select');
      // A closed select on Linux changes its value with the arrow keys.
      const f = await press(page, 'ArrowDown');
      assert(f.value, `ArrowDown on the select left it at "${f.value}"`);
      return;
    }
    case 'number':
      await tabTo(page, (x) => x.id === q.fields[0], 'the number field');
      await page.keyboard.type(choice.number || '40');
      return;
    case 'date': {
      const parts = ['14', '2', '2025'];
      await tabTo(page, (x) => x.id === q.fields[0], 'the day field');
      await page.keyboard.type(parts[0]);
      for (let i = 1; i < 3; i++) {
        const f = await press(page, 'Tab');
        assert(f.id === q.fields[i], `Tab from the ${q.fields[i - 1]} field went to ${describe(f)}`);
        await page.keyboard.type(parts[i]);
      }
      return;
    }
    case 'text':
    case 'textarea':
      await tabTo(page, (x) => x.id === q.fields[0], 'the text box');
      await page.keyboard.type('The nurse explained everything.');
      return;
    default:
      fail(`cannot answer ${q.kind}`);
  }
}

async function main() {
  const survey = lib.surveyDefinitions().find((s) => s.id === SURVEY);
  assert(survey, `no survey ${SURVEY}`);
  const expected = survey.pages_per_voice[VOICE];
  const browser = await lib.launch();
  const seen = new Set();
  let errorSummaryFocused = 0;
  let shiftTabChecks = 0;
  const started = Date.now();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();

    // Self-test: the focus check must tell a hidden focus from a shown one.
    await page.setContent(`<!DOCTYPE html><html lang="en"><head><title>focus</title>
      <style>#hidden:focus { outline: none }</style></head>
      <body><a id="shown" href="#a">shown</a> <a id="hidden" href="#b">hidden</a></body></html>`);
    await page.keyboard.press('Tab');
    const shown = await focused(page);
    await page.keyboard.press('Tab');
    const hidden = await focused(page);
    assert(shown.id === 'shown' && shown.visible, 'self-test: the focus check missed a visible focus ring');
    assert(hidden.id === 'hidden' && !hidden.visible, 'self-test: the focus check missed a link with no focus style');

    await page.goto(url('/'), { waitUntil: 'load' });

    // The first Tab reaches the skip link; Enter on it moves on to main.
    let f = await press(page, 'Tab');
    assert(f.href === '#maincontent', `the first Tab reached ${describe(f)}, not the skip link`);
    keyPresses++;
    await page.keyboard.press('Enter');
    f = await press(page, 'Tab');
    assert(
      await page.evaluate(() => !!document.activeElement.closest('main')),
      `Tab after the skip link went to ${describe(f)}, outside main`,
    );
    // The survey in the list, then Start now.
    if (f.href !== `/surveys/${SURVEY}`) await tabTo(page, (x) => x.href === `/surveys/${SURVEY}`, `the link to ${SURVEY}`);
    await pressAndWait(page, 'Enter', `link to ${SURVEY}`);
    await tabTo(page, isContinue, 'Start now');
    await pressAndWait(page, 'Enter', 'Start now');

    for (let step = 0; !pathOf(page).endsWith('/check'); step++) {
      assert(step < 60, 'too many pages');
      const here = pathOf(page);
      assert(lib.isQuestionPath(here), `expected a question page, got ${here}`);
      const id = lib.questionId(here);
      seen.add(id);
      const q = await question(page);

      // A bad submit first, on every page: Continue with nothing entered.
      await tabTo(page, isContinue, 'Continue');
      await pressAndWait(page, 'Enter', `Continue with nothing entered on ${id}`);
      if (pathOf(page) === here) {
        // autofocus moves focus at the browser's next rendering step, which
        // can come just after the load event: give it a moment.
        let active = await focused(page);
        for (let i = 0; i < 40 && active.tag === 'body'; i++) {
          await page.waitForTimeout(50);
          active = await focused(page);
        }
        assert(
          active.className.includes('nhsuk-error-summary'),
          `${here}: after a bad submit focus is on ${describe(active)}, not the error summary`,
        );
        errorSummaryFocused++;
        // Its first link takes focus to the field to fix.
        const link = await press(page, 'Tab');
        assert(link.tag === 'a' && link.href && link.href.startsWith('#'), `Tab from the error summary went to ${describe(link)}`);
        keyPresses++;
        await page.keyboard.press('Enter');
        const target = await focused(page);
        assert(`#${target.id}` === link.href, `the error link ${link.href} put focus on ${describe(target)}`);
        // Tab order restarts from the field: Shift+Tab then Tab comes back to it.
        await press(page, 'Shift+Tab');
        await press(page, 'Tab');
      } else {
        // An optional page moved on when left empty: come back with the Back link.
        await tabTo(page, (x) => x.href === here, `the Back link to ${here}`, 'Shift+Tab');
        await pressAndWait(page, 'Enter', `Back to ${id}`);
      }

      const choice = {};
      if (id === require('./journey').voiceCodes(survey).pageId) choice.radio = voiceOption(survey);
      else if (id === 'told_once') choice.radio = 'neither'; // opens both follow-ups
      await answer(page, await question(page), choice);

      // Shift+Tab walks back through the fields in order (once per kind).
      if (q.fields && q.fields.length > 1 && shiftTabChecks < 3) {
        await tabTo(page, isContinue, 'Continue');
        for (let i = q.fields.length - 1; i >= 0; i--) {
          const back = await press(page, 'Shift+Tab');
          assert(back.id === q.fields[i], `Shift+Tab on ${id} reached ${describe(back)}, expected #${q.fields[i]}`);
        }
        shiftTabChecks++;
      }
      await tabTo(page, isContinue, 'Continue');
      await pressAndWait(page, 'Enter', `Continue on ${id}`);
      if (pathOf(page) === here) {
        const errors = await page.locator('.nhsuk-error-summary').textContent();
        fail(`${here} refused the keyboard answer: ${errors.trim().replace(/\s+/g, ' ')}`);
      }
    }

    // Check answers: change one answer from the keyboard, then send.
    const changeHref = `/surveys/${SURVEY}/q/sex?change=1`;
    await tabTo(page, (x) => x.href === changeHref, 'the Change link for sex');
    await pressAndWait(page, 'Enter', 'Change');
    let f2 = await tabTo(page, (x) => x.type === 'radio', 'the sex radios');
    f2 = await press(page, 'ArrowDown');
    assert(f2.checked, 'ArrowDown did not select the next option');
    await tabTo(page, isContinue, 'Continue');
    await pressAndWait(page, 'Enter', 'Continue after the change');
    assert(pathOf(page) === `/surveys/${SURVEY}/check`, `after a change, Continue went to ${pathOf(page)}`);
    await tabTo(page, isContinue, 'the send button');
    await pressAndWait(page, 'Enter', 'Send');
    assert(pathOf(page) === `/surveys/${SURVEY}/done`, `sending went to ${pathOf(page)}`);
    const reference = (await page.locator('.nhsuk-panel strong').textContent()).trim();
    assert(reference, 'no reference on the confirmation page');
    await context.close();
  } finally {
    await browser.close();
  }

  console.log(`\nKeyboard-only summary (${SURVEY}, ${VOICE})\n`);
  console.log(
    table([
      ['survey', 'voice', 'question pages', 'error summaries focused', 'keys pressed', 'focus checks', 'focus not visible', 'result', 'seconds'],
      [SURVEY, VOICE, `${seen.size}/${expected}`, errorSummaryFocused, keyPresses, focusChecks, focusProblems.length, 'confirmation reached', lib.seconds(started)],
    ]),
  );
  for (const p of [...new Set(focusProblems)]) console.log(`FOCUS: ${p}`);
  assert(seen.size >= expected, `visited ${seen.size} question pages, ${VOICE} can be shown ${expected}`);
  assert(errorSummaryFocused > 0, 'never saw the error summary take focus');
  return focusProblems.length === 0;
}

lib.run('keyboard', main);
